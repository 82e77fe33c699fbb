DROP INDEX "messages_chat_idx";--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "seq" bigserial NOT NULL;--> statement-breakpoint
CREATE INDEX "messages_chat_idx" ON "messages" USING btree ("session_id","chat_id","timestamp","seq");