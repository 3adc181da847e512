-- The caseload shows each client's last contact: the newest live contact, found by reading the
-- client's contacts newest first. With deleted_at in the index that read stays in the index
-- instead of decrypting one table page per client (1,445 clients: ~11 ms of the unlock).
DROP INDEX IF EXISTS ix_contact_client_when;
CREATE INDEX ix_contact_client_when ON contact (client_id, occurred_at, deleted_at);
