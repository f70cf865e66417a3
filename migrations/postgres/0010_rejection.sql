-- Rejected instances (IOCM, PS3.4 Annex KK): hidden from every query and
-- retrieval (their index rows are gone) while their objects stay, until
-- an administrator restores them (re-indexed from the object) or purges
-- them (the object deleted).
CREATE TABLE rejection (
    tenant_id              TEXT    NOT NULL DEFAULT '',
    sop_instance_uid       TEXT    NOT NULL,
    study_instance_uid     TEXT    NOT NULL,
    patient_id             TEXT    NOT NULL DEFAULT '',
    blob_key               TEXT    NOT NULL,
    reason_code            TEXT    NOT NULL,
    reason                 TEXT    NOT NULL,
    by_sop_instance_uid    TEXT    NOT NULL DEFAULT '',
    rejected_by            TEXT    NOT NULL DEFAULT '',
    rejected_at            BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, sop_instance_uid)
);
CREATE INDEX rejection_study_idx ON rejection (tenant_id, study_instance_uid);
CREATE INDEX rejection_blob_idx ON rejection (blob_key);
