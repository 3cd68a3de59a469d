-- Webhook delivery that pauses instead of dead-lettering a backlog (alerts/webhooks.py):
-- since when it is paused, and how many events were dead-lettered in a row.
ALTER TABLE webhooks ADD COLUMN paused_since TEXT;
ALTER TABLE webhooks ADD COLUMN refused_in_row INTEGER NOT NULL DEFAULT 0;
