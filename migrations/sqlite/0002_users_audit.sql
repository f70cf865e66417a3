-- Local users (HTTP Basic) and the audit trail. Keep in step with
-- ../postgres/0002_users_audit.sql.

CREATE TABLE app_user (
    name            TEXT    PRIMARY KEY,
    password_hash   TEXT    NOT NULL,
    roles           TEXT    NOT NULL,
    created_at      BIGINT  NOT NULL
);

-- One row per access to patient data (accesses of one kind by one actor to
-- one study within a second are one row with a count). Append-only: the
-- triggers below refuse UPDATE, DELETE and REPLACE. (The table's owner can
-- still drop the triggers: keep the database's files and credentials to
-- the archive's service account.)
CREATE TABLE audit_event (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    at                  BIGINT  NOT NULL,
    actor               TEXT    NOT NULL,
    actor_kind          TEXT    NOT NULL,
    source              TEXT    NOT NULL,
    action              TEXT    NOT NULL,
    outcome             TEXT    NOT NULL,
    patient_id          TEXT    NOT NULL DEFAULT '',
    study_instance_uid  TEXT    NOT NULL DEFAULT '',
    detail              TEXT    NOT NULL DEFAULT '',
    count               BIGINT  NOT NULL DEFAULT 1
);
CREATE INDEX audit_event_patient_idx ON audit_event (patient_id, at);
CREATE INDEX audit_event_at_idx ON audit_event (at);

CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;
CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;
-- INSERT OR REPLACE on an existing id would delete the old row without the
-- DELETE trigger (recursive_triggers is off).
CREATE TRIGGER audit_event_no_replace BEFORE INSERT ON audit_event
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM audit_event WHERE id = NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'audit_event is append-only');
END;
