CREATE TABLE "messages" (
	"session_id" uuid NOT NULL,
	"id" text NOT NULL,
	"chat_id" text NOT NULL,
	"from_me" boolean NOT NULL,
	"type" text DEFAULT 'text' NOT NULL,
	"text" text,
	"reply_to" text,
	"status" text NOT NULL,
	"timestamp" bigint NOT NULL,
	"idempotency_key" text,
	"error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "messages_session_id_id_pk" PRIMARY KEY("session_id","id")
);
--> statement-breakpoint
ALTER TABLE "messages" ADD CONSTRAINT "messages_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "messages_chat_idx" ON "messages" USING btree ("session_id","chat_id","timestamp","id");--> statement-breakpoint
CREATE UNIQUE INDEX "messages_idempotency_idx" ON "messages" USING btree ("session_id","idempotency_key") WHERE idempotency_key is not null;--> statement-breakpoint
CREATE INDEX "messages_pending_idx" ON "messages" USING btree ("session_id","created_at") WHERE status = 'pending';