ALTER TABLE "messages" ADD COLUMN "caption" text;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "media" jsonb;