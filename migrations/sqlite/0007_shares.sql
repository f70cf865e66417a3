-- Shares: a study opened by whoever holds a link (the patient, the next
-- doctor), for a limited time, revocably. The link's token is kept only as
-- its SHA-256; the optional PIN only as a password hash.
CREATE TABLE share (
    id                  INTEGER PRIMARY KEY,
    tenant_id           TEXT    NOT NULL DEFAULT '',
    study_instance_uid  TEXT    NOT NULL,
    token_hash          TEXT    NOT NULL UNIQUE,
    pin_hash            TEXT    NOT NULL DEFAULT '',
    created_by          TEXT    NOT NULL DEFAULT '',
    created_at          BIGINT  NOT NULL,
    expires_at          BIGINT  NOT NULL,
    revoked_at          BIGINT  NOT NULL DEFAULT 0,
    failed_pins         BIGINT  NOT NULL DEFAULT 0,
    failed_pins_total   BIGINT  NOT NULL DEFAULT 0,
    locked_until        BIGINT  NOT NULL DEFAULT 0,
    access_count        BIGINT  NOT NULL DEFAULT 0,
    last_access_at      BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX share_study_idx ON share (tenant_id, study_instance_uid);
