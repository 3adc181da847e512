-- Schema 4: field work (issue 9). Statements are split on ";\n"; each part appends its own.

-- Follow-ups: which ones a contact or a notification scheduled (a newer one replaces the open
-- one), and how each was closed (a contact, done without one, replaced).
ALTER TABLE follow_up ADD COLUMN auto BOOLEAN;
ALTER TABLE follow_up ADD COLUMN closed_as VARCHAR;

-- Referral events: an explicit order within each referral. Existing events are numbered in the
-- order they were created (their UUIDv7 ids are time-ordered), not by their times, which the
-- status form used to cut to the minute.
ALTER TABLE referral_event ADD COLUMN seq INTEGER;
UPDATE referral_event SET seq = 1 + (
    SELECT count(*) FROM referral_event e
    WHERE e.referral_id = referral_event.referral_id AND e.id < referral_event.id
);

-- Form drafts: what was typed into a form and not yet saved, offered back at the next unlock
-- after a crash. Local to this device: never synced, never in the change log.
CREATE TABLE form_draft (
	"key" VARCHAR NOT NULL, 
	form VARCHAR NOT NULL, 
	client_id VARCHAR, 
	worker_id VARCHAR NOT NULL, 
	fields VARCHAR NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY ("key")
);
