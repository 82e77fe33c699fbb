CREATE TABLE "auth_state" (
	"session_id" uuid NOT NULL,
	"name" text NOT NULL,
	"value" text NOT NULL,
	CONSTRAINT "auth_state_session_id_name_pk" PRIMARY KEY("session_id","name")
);
--> statement-breakpoint
CREATE TABLE "nodes" (
	"id" text PRIMARY KEY NOT NULL,
	"url" text NOT NULL,
	"capacity" integer NOT NULL,
	"state" text DEFAULT 'live' NOT NULL,
	"boot_id" text NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_seen" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "webhook_leases" (
	"session_id" uuid PRIMARY KEY NOT NULL,
	"node" text NOT NULL,
	"until" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "node" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "handover" text;--> statement-breakpoint
ALTER TABLE "auth_state" ADD CONSTRAINT "auth_state_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "webhook_leases" ADD CONSTRAINT "webhook_leases_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;