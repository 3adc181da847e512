CREATE TABLE sync_keys (
	id INTEGER NOT NULL, 
	device_keys BLOB, 
	root_keys BLOB, 
	roster BLOB, 
	roster_version INTEGER NOT NULL, 
	pinned_root BLOB, 
	escrow_recipient VARCHAR NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE sync_peer (
	device_id VARCHAR NOT NULL, 
	received_upto INTEGER NOT NULL, 
	acked_upto INTEGER NOT NULL, 
	exported_upto INTEGER NOT NULL, 
	last_import_at DATETIME, 
	last_export_at DATETIME, 
	PRIMARY KEY (device_id)
);

CREATE TABLE sync_bundle (
	bundle_id VARCHAR NOT NULL, 
	direction VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	peer_device VARCHAR NOT NULL, 
	seq_first INTEGER, 
	seq_last INTEGER, 
	change_count INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	summary VARCHAR NOT NULL, 
	PRIMARY KEY (bundle_id)
);

CREATE TABLE sync_inbox (
	bundle_id VARCHAR NOT NULL, 
	source_device VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	needs_upto INTEGER NOT NULL, 
	seq_first INTEGER, 
	seq_last INTEGER, 
	received_at DATETIME NOT NULL, 
	data BLOB NOT NULL, 
	PRIMARY KEY (bundle_id)
);

CREATE INDEX ix_sync_inbox_source_device ON sync_inbox (source_device);

CREATE TABLE sync_conflict (
	id VARCHAR NOT NULL, 
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	col VARCHAR NOT NULL, 
	kept_value BLOB, 
	kept_hlc INTEGER NOT NULL, 
	kept_device VARCHAR NOT NULL, 
	lost_value BLOB, 
	lost_hlc INTEGER NOT NULL, 
	lost_device VARCHAR NOT NULL, 
	bundle_id VARCHAR NOT NULL, 
	detected_at DATETIME NOT NULL, 
	status VARCHAR NOT NULL, 
	resolution VARCHAR NOT NULL, 
	resolved_at DATETIME, 
	PRIMARY KEY (id)
);

CREATE INDEX ix_sync_conflict_row ON sync_conflict (tbl, row_id);

CREATE INDEX ix_sync_conflict_status ON sync_conflict (status);

CREATE TABLE sync_purged (
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	device VARCHAR NOT NULL, 
	purged_at DATETIME NOT NULL, 
	PRIMARY KEY (tbl, row_id)
);

CREATE TABLE sync_touch (
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	tick INTEGER NOT NULL, 
	PRIMARY KEY (tbl, row_id)
);

CREATE INDEX ix_sync_touch_tick ON sync_touch (tick);

CREATE TABLE sync_sent_client (
	device_id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	first_wm INTEGER NOT NULL, 
	PRIMARY KEY (device_id, client_id)
);

CREATE INDEX ix_change_device_hlc ON change_log (device, hlc);
