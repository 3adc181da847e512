-- Schema 8: accountable records (issue 12). Statements are split on ";\n"; each part appends its own.

-- Consent (12B): what a client consented to, how, until when, and when it was withdrawn.
CREATE TABLE consent (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	provider_id VARCHAR, 
	method VARCHAR NOT NULL, 
	given_on DATE NOT NULL, 
	expires_on DATE, 
	withdrawn_on DATE, 
	note VARCHAR NOT NULL, 
	recorded_by VARCHAR, 
	withdrawn_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(provider_id) REFERENCES provider (id), 
	FOREIGN KEY(recorded_by) REFERENCES worker (id), 
	FOREIGN KEY(withdrawn_by) REFERENCES worker (id)
);
CREATE INDEX ix_consent_client_id ON consent (client_id);

-- Safety plan (12B): one per client, edited in place; its review date feeds the task view.
CREATE TABLE safety_plan (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	threats VARCHAR NOT NULL, 
	safe_contacts VARCHAR NOT NULL, 
	safe_places VARCHAR NOT NULL, 
	places_to_avoid VARCHAR NOT NULL, 
	check_in_plan VARCHAR NOT NULL, 
	review_on DATE, 
	created_by VARCHAR, 
	updated_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(created_by) REFERENCES worker (id), 
	FOREIGN KEY(updated_by) REFERENCES worker (id)
);
CREATE INDEX ix_safety_plan_client_id ON safety_plan (client_id);

-- Provenance (12A): which device made each record and the bundle that brought it (local, never synced).
CREATE TABLE sync_origin (
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	device VARCHAR NOT NULL, 
	bundle_id VARCHAR NOT NULL, 
	at DATETIME NOT NULL, 
	PRIMARY KEY (tbl, row_id)
);

-- A referral that shares the client's identifying information with its provider (12B): sending it
-- needs a current written consent to share with that provider. Empty on referrals made before.
ALTER TABLE referral ADD COLUMN shares_info BOOLEAN;
