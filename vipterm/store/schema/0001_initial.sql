CREATE TABLE change_log (
	id INTEGER NOT NULL, 
	device VARCHAR NOT NULL, 
	seq INTEGER NOT NULL, 
	hlc INTEGER NOT NULL, 
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	op VARCHAR NOT NULL, 
	col VARCHAR NOT NULL, 
	value BLOB, 
	base_hlc INTEGER, 
	base_device VARCHAR, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_change_device_seq UNIQUE (device, seq)
);

CREATE INDEX ix_change_row ON change_log (tbl, row_id);

CREATE TABLE field_version (
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	col VARCHAR NOT NULL, 
	hlc INTEGER NOT NULL, 
	device VARCHAR NOT NULL, 
	PRIMARY KEY (tbl, row_id, col)
);

CREATE TABLE meta (
	"key" VARCHAR NOT NULL, 
	value VARCHAR NOT NULL, 
	PRIMARY KEY ("key")
);

CREATE TABLE provider (
	id VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	category VARCHAR NOT NULL, 
	phone VARCHAR NOT NULL, 
	address VARCHAR NOT NULL, 
	note VARCHAR NOT NULL, 
	active BOOLEAN NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id)
);

CREATE TABLE sync_state (
	id INTEGER NOT NULL, 
	device_id VARCHAR NOT NULL, 
	last_hlc INTEGER NOT NULL, 
	next_seq INTEGER NOT NULL, 
	PRIMARY KEY (id)
);

CREATE TABLE worker (
	id VARCHAR NOT NULL, 
	display_name VARCHAR NOT NULL, 
	role VARCHAR NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id)
);

CREATE TABLE audit_entry (
	id VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	worker_id VARCHAR, 
	device_id VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	client_id VARCHAR, 
	detail VARCHAR NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(worker_id) REFERENCES worker (id)
);

CREATE TABLE client (
	id VARCHAR NOT NULL, 
	pseudonym VARCHAR NOT NULL, 
	age_group VARCHAR NOT NULL, 
	area_command VARCHAR NOT NULL, 
	referral_source VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	risk_flags VARCHAR NOT NULL, 
	assigned_worker_id VARCHAR, 
	identified_on DATE NOT NULL, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(assigned_worker_id) REFERENCES worker (id)
);

CREATE INDEX ix_client_assigned_worker_id ON client (assigned_worker_id);

CREATE INDEX ix_client_pseudonym ON client (pseudonym);

CREATE INDEX ix_client_status ON client (status);

CREATE TABLE assessment (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	assessed_on DATE NOT NULL, 
	assessed_by VARCHAR, 
	note VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(assessed_by) REFERENCES worker (id)
);

CREATE INDEX ix_assessment_client_id ON assessment (client_id);

CREATE TABLE client_identity (
	client_id VARCHAR NOT NULL, 
	first_name VARCHAR NOT NULL, 
	last_name VARCHAR NOT NULL, 
	aka VARCHAR NOT NULL, 
	date_of_birth DATE, 
	phone VARCHAR NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (client_id), 
	FOREIGN KEY(client_id) REFERENCES client (id)
);

CREATE TABLE contact (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	worker_id VARCHAR, 
	occurred_at DATETIME NOT NULL, 
	mode VARCHAR NOT NULL, 
	purpose VARCHAR NOT NULL, 
	outcome VARCHAR NOT NULL, 
	duration_min INTEGER, 
	area_command VARCHAR NOT NULL, 
	note VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(worker_id) REFERENCES worker (id)
);

CREATE INDEX ix_contact_client_when ON contact (client_id, occurred_at);

CREATE INDEX ix_contact_worker_id ON contact (worker_id);

CREATE TABLE follow_up (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	owner_id VARCHAR, 
	due_on DATE NOT NULL, 
	kind VARCHAR NOT NULL, 
	note VARCHAR NOT NULL, 
	done_at DATETIME, 
	done_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(owner_id) REFERENCES worker (id), 
	FOREIGN KEY(done_by) REFERENCES worker (id)
);

CREATE INDEX ix_follow_up_client_id ON follow_up (client_id);

CREATE INDEX ix_follow_up_open ON follow_up (client_id, done_at, due_on);

CREATE TABLE notification_attempt (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	attempted_on DATE NOT NULL, 
	setting VARCHAR NOT NULL, 
	area_command VARCHAR NOT NULL, 
	team VARCHAR NOT NULL, 
	messages VARCHAR NOT NULL, 
	outcome VARCHAR NOT NULL, 
	note VARCHAR NOT NULL, 
	recorded_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(recorded_by) REFERENCES worker (id)
);

CREATE INDEX ix_notification_attempt_attempted_on ON notification_attempt (attempted_on);

CREATE INDEX ix_notification_attempt_client_id ON notification_attempt (client_id);

CREATE TABLE outcome (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	occurred_on DATE NOT NULL, 
	source VARCHAR NOT NULL, 
	note VARCHAR NOT NULL, 
	recorded_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(recorded_by) REFERENCES worker (id)
);

CREATE INDEX ix_outcome_client_id ON outcome (client_id);

CREATE TABLE referral (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	need_domain VARCHAR NOT NULL, 
	provider_id VARCHAR, 
	status VARCHAR NOT NULL, 
	status_changed_at DATETIME NOT NULL, 
	first_service_on DATE, 
	feedback VARCHAR NOT NULL, 
	created_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(provider_id) REFERENCES provider (id), 
	FOREIGN KEY(created_by) REFERENCES worker (id)
);

CREATE INDEX ix_referral_client_id ON referral (client_id);

CREATE TABLE assessment_item (
	id VARCHAR NOT NULL, 
	assessment_id VARCHAR NOT NULL, 
	domain VARCHAR NOT NULL, 
	level INTEGER NOT NULL, 
	client_priority BOOLEAN NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(assessment_id) REFERENCES assessment (id)
);

CREATE INDEX ix_assessment_item_assessment_id ON assessment_item (assessment_id);

CREATE TABLE referral_event (
	id VARCHAR NOT NULL, 
	referral_id VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	by_worker VARCHAR, 
	reason VARCHAR NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(referral_id) REFERENCES referral (id), 
	FOREIGN KEY(by_worker) REFERENCES worker (id)
);

CREATE INDEX ix_referral_event_referral_id ON referral_event (referral_id);
