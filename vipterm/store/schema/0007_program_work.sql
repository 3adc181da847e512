-- Schema 7: the coordinator's program work (issue 11). Statements are split on ";\n"; each part
-- appends its own.

-- Closing a client says why and when (reopening clears both).
ALTER TABLE client ADD COLUMN closed_reason VARCHAR;
ALTER TABLE client ADD COLUMN closed_on DATE;

-- A follow-up may have a time of day (court at 9:00): "HH:MM", program-local wall time.
ALTER TABLE follow_up ADD COLUMN due_time VARCHAR;

-- Corrections: a fact (contact, notification attempt, outcome, referral event) is never edited;
-- a correction is a new fact that supersedes it (replacement_id: the fact entered in its place)
-- or voids it (replacement_id empty). The corrected fact stays in the history, marked.
CREATE TABLE fact_correction (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	tbl VARCHAR NOT NULL, 
	row_id VARCHAR NOT NULL, 
	replacement_id VARCHAR, 
	reason VARCHAR NOT NULL, 
	by_worker VARCHAR, 
	at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(by_worker) REFERENCES worker (id)
);
CREATE INDEX ix_fact_correction_row_id ON fact_correction (row_id);
CREATE INDEX ix_fact_correction_client_id ON fact_correction (client_id);
CREATE INDEX ix_fact_correction_replacement_id ON fact_correction (replacement_id);

-- The weekly review (coordinator-owned): the week's incidents (day, area command, source; no
-- narrative), the candidates identified from each, and the custom notification planned for each
-- (team roles, day and time, setting, follow-up worker); plans reach the worker's laptop.
CREATE TABLE review (
	id VARCHAR NOT NULL, 
	week_of DATE NOT NULL, 
	held_on DATE NOT NULL, 
	held_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(held_by) REFERENCES worker (id)
);
CREATE INDEX ix_review_week_of ON review (week_of);
CREATE TABLE review_incident (
	id VARCHAR NOT NULL, 
	review_id VARCHAR NOT NULL, 
	occurred_on DATE NOT NULL, 
	area_command VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(review_id) REFERENCES review (id)
);
CREATE INDEX ix_review_incident_review_id ON review_incident (review_id);
CREATE TABLE planned_notification (
	id VARCHAR NOT NULL, 
	client_id VARCHAR NOT NULL, 
	identified_on DATE NOT NULL, 
	planned_on DATE NOT NULL, 
	planned_time VARCHAR, 
	setting VARCHAR NOT NULL, 
	team_roles VARCHAR NOT NULL, 
	worker_id VARCHAR, 
	status VARCHAR NOT NULL, 
	created_by VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(worker_id) REFERENCES worker (id), 
	FOREIGN KEY(created_by) REFERENCES worker (id)
);
CREATE INDEX ix_planned_notification_client_id ON planned_notification (client_id);
CREATE TABLE review_candidate (
	id VARCHAR NOT NULL, 
	review_id VARCHAR NOT NULL, 
	incident_id VARCHAR, 
	client_id VARCHAR NOT NULL, 
	new_client BOOLEAN NOT NULL, 
	age_group VARCHAR NOT NULL, 
	risk_flags VARCHAR NOT NULL, 
	identified_on DATE NOT NULL, 
	plan_id VARCHAR, 
	created_at DATETIME NOT NULL, 
	deleted_at DATETIME, 
	PRIMARY KEY (id), 
	FOREIGN KEY(review_id) REFERENCES review (id), 
	FOREIGN KEY(incident_id) REFERENCES review_incident (id), 
	FOREIGN KEY(client_id) REFERENCES client (id), 
	FOREIGN KEY(plan_id) REFERENCES planned_notification (id)
);
CREATE INDEX ix_review_candidate_client_id ON review_candidate (client_id);
CREATE INDEX ix_review_candidate_review_id ON review_candidate (review_id);
