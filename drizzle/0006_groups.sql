CREATE TABLE "groups" (
	"session_id" uuid NOT NULL,
	"id" text NOT NULL,
	"subject" text NOT NULL,
	"description" text,
	"owner" text,
	"created_at" timestamp with time zone,
	"announce" boolean DEFAULT false NOT NULL,
	"locked" boolean DEFAULT false NOT NULL,
	"is_admin" boolean DEFAULT false NOT NULL,
	"size" integer NOT NULL,
	"participants" jsonb NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "groups_session_id_id_pk" PRIMARY KEY("session_id","id")
);
--> statement-breakpoint
CREATE TABLE "lid_mappings" (
	"session_id" uuid NOT NULL,
	"lid" text NOT NULL,
	"phone" text NOT NULL,
	CONSTRAINT "lid_mappings_session_id_lid_pk" PRIMARY KEY("session_id","lid")
);
--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "author" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "mentions" text[];--> statement-breakpoint
ALTER TABLE "groups" ADD CONSTRAINT "groups_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lid_mappings" ADD CONSTRAINT "lid_mappings_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;