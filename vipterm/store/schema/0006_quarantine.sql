CREATE TABLE sync_quarantine (
	id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	code VARCHAR NOT NULL, 
	reason VARCHAR NOT NULL, 
	bundle_id VARCHAR NOT NULL, 
	device VARCHAR NOT NULL, 
	worker_id VARCHAR NOT NULL, 
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	col VARCHAR NOT NULL, 
	changes BLOB, 
	data BLOB, 
	detected_at DATETIME NOT NULL, 
	status VARCHAR NOT NULL, 
	decision VARCHAR NOT NULL, 
	decided_at DATETIME, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_sync_quarantine_status ON sync_quarantine (status);

CREATE INDEX ix_sync_quarantine_row ON sync_quarantine (tbl, row_id)
;

CREATE TABLE sync_erase (
	device_id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	sent_wm INTEGER NOT NULL, 
	PRIMARY KEY (device_id, client_id)
)
