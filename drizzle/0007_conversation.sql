ALTER TABLE "messages" ADD COLUMN "reactions" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "edited_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "revoked" boolean DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "location" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "contacts" jsonb;--> statement-breakpoint
ALTER TABLE "messages" ADD COLUMN "poll" jsonb;