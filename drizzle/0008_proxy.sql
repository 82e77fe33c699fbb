ALTER TABLE "sessions" ADD COLUMN "proxy_encrypted" text;--> statement-breakpoint
ALTER TABLE "sessions" ADD COLUMN "proxy_masked" text;