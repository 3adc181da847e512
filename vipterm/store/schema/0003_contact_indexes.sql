DROP INDEX IF EXISTS ix_contact_worker_id;
CREATE INDEX IF NOT EXISTS ix_contact_worker_created ON contact (worker_id, created_at);
CREATE INDEX IF NOT EXISTS ix_contact_occurred ON contact (occurred_at);
