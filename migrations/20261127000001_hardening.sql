-- The outbox gauges count failed rows through this index, not the whole table.
CREATE INDEX outbox_failed ON outbox (id) WHERE status = 'failed';
-- Pruning finds old sent rows and expired refresh tokens without a full scan.
CREATE INDEX outbox_done_at ON outbox ((coalesce(sent_at, created_at))) WHERE status IN ('sent', 'skipped');
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens (expires_at);
