-- Tenants (one deployment, many hospitals). Keep in step with
-- ../postgres/0003_tenants.sql.
--
-- Every patient, study, series and instance row belongs to one tenant
-- ('' is the implicit tenant: every row stored before this migration, and
-- every row of a deployment without [[tenants]]). UIDs become unique within
-- a tenant: the same Study Instance UID may be stored by two hospitals
-- without mixing. Users and audit events carry their tenant too.
--
-- SQLite cannot change a UNIQUE constraint in place, so the four tables are
-- rebuilt, inside the migration's one transaction and with foreign keys
-- enforced all along: new tables are made and filled parents first, the old
-- ones dropped children first (so no drop removes a row still referenced),
-- and each new table renamed to the old name, which also renames the
-- references to it (SQLite 3.26+, legacy_alter_table off). An archive with
-- millions of instances takes a while here, once; if it is interrupted, the
-- transaction rolls back and the next start runs it again.

CREATE TABLE patient_new (
    id                          INTEGER PRIMARY KEY,
    tenant_id                   TEXT    NOT NULL DEFAULT '',
    patient_id                  TEXT    NOT NULL,
    issuer_of_patient_id        TEXT    NOT NULL DEFAULT '',
    patient_name                TEXT    NOT NULL DEFAULT '',
    patient_name_norm           TEXT    NOT NULL DEFAULT '',
    patient_birth_date          TEXT    NOT NULL DEFAULT '',
    patient_sex                 TEXT    NOT NULL DEFAULT '',
    created_at                  INTEGER NOT NULL,
    UNIQUE (patient_id, issuer_of_patient_id, tenant_id)
);
INSERT INTO patient_new (id, patient_id, issuer_of_patient_id, patient_name, patient_name_norm, patient_birth_date, patient_sex, created_at, tenant_id)
    SELECT id, patient_id, issuer_of_patient_id, patient_name, patient_name_norm, patient_birth_date, patient_sex, created_at, '' FROM patient;

CREATE TABLE study_new (
    id                                  INTEGER PRIMARY KEY,
    tenant_id                           TEXT    NOT NULL DEFAULT '',
    patient_ref                         INTEGER NOT NULL REFERENCES patient_new (id),
    study_instance_uid                  TEXT    NOT NULL,
    study_date                          TEXT    NOT NULL DEFAULT '',
    study_time                          TEXT    NOT NULL DEFAULT '',
    accession_number                    TEXT    NOT NULL DEFAULT '',
    referring_physician_name            TEXT    NOT NULL DEFAULT '',
    referring_physician_name_norm       TEXT    NOT NULL DEFAULT '',
    study_description                   TEXT    NOT NULL DEFAULT '',
    study_id                            TEXT    NOT NULL DEFAULT '',
    institution_name                    TEXT    NOT NULL DEFAULT '',
    number_of_study_related_series      INTEGER NOT NULL DEFAULT 0,
    number_of_study_related_instances   INTEGER NOT NULL DEFAULT 0,
    study_size                          INTEGER NOT NULL DEFAULT 0,
    created_at                          INTEGER NOT NULL,
    updated_at                          INTEGER NOT NULL,
    UNIQUE (study_instance_uid, tenant_id)
);
INSERT INTO study_new (id, patient_ref, study_instance_uid, study_date, study_time, accession_number, referring_physician_name, referring_physician_name_norm, study_description, study_id, institution_name, number_of_study_related_series, number_of_study_related_instances, study_size, created_at, updated_at, tenant_id)
    SELECT id, patient_ref, study_instance_uid, study_date, study_time, accession_number, referring_physician_name, referring_physician_name_norm, study_description, study_id, institution_name, number_of_study_related_series, number_of_study_related_instances, study_size, created_at, updated_at, '' FROM study;

CREATE TABLE series_new (
    id                                  INTEGER PRIMARY KEY,
    tenant_id                           TEXT    NOT NULL DEFAULT '',
    study_ref                           INTEGER NOT NULL REFERENCES study_new (id),
    series_instance_uid                 TEXT    NOT NULL,
    modality                            TEXT    NOT NULL DEFAULT '',
    series_number                       INTEGER,
    series_description                  TEXT    NOT NULL DEFAULT '',
    body_part_examined                  TEXT    NOT NULL DEFAULT '',
    series_date                         TEXT    NOT NULL DEFAULT '',
    series_time                         TEXT    NOT NULL DEFAULT '',
    station_name                        TEXT    NOT NULL DEFAULT '',
    number_of_series_related_instances  INTEGER NOT NULL DEFAULT 0,
    created_at                          INTEGER NOT NULL,
    UNIQUE (series_instance_uid, tenant_id)
);
INSERT INTO series_new (id, study_ref, series_instance_uid, modality, series_number, series_description, body_part_examined, series_date, series_time, station_name, number_of_series_related_instances, created_at, tenant_id)
    SELECT id, study_ref, series_instance_uid, modality, series_number, series_description, body_part_examined, series_date, series_time, station_name, number_of_series_related_instances, created_at, '' FROM series;

CREATE TABLE instance_new (
    id                      INTEGER PRIMARY KEY,
    tenant_id               TEXT    NOT NULL DEFAULT '',
    series_ref              INTEGER NOT NULL REFERENCES series_new (id),
    sop_instance_uid        TEXT    NOT NULL,
    sop_class_uid           TEXT    NOT NULL,
    instance_number         INTEGER,
    number_of_frames        INTEGER NOT NULL DEFAULT 0,
    rows                    INTEGER,
    columns                 INTEGER,
    transfer_syntax_uid     TEXT    NOT NULL,
    content_date            TEXT    NOT NULL DEFAULT '',
    content_time            TEXT    NOT NULL DEFAULT '',
    -- the blob: key, compression at rest, sizes, SHA-256 of the original bytes,
    -- chunk table of a compressed blob, and each frame's byte range
    blob_key                TEXT    NOT NULL,
    compression             TEXT    NOT NULL,
    original_size           INTEGER NOT NULL,
    stored_size             INTEGER NOT NULL,
    sha256                  TEXT    NOT NULL,
    chunk_table             BLOB    NOT NULL,
    frames                  BLOB    NOT NULL,
    frames_encapsulated     INTEGER NOT NULL,
    dicom_json              TEXT    NOT NULL,
    created_at              INTEGER NOT NULL,
    UNIQUE (sop_instance_uid, tenant_id)
);
INSERT INTO instance_new (id, series_ref, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, rows, columns, transfer_syntax_uid, content_date, content_time, blob_key, compression, original_size, stored_size, sha256, chunk_table, frames, frames_encapsulated, dicom_json, created_at, tenant_id)
    SELECT id, series_ref, sop_instance_uid, sop_class_uid, instance_number, number_of_frames, rows, columns, transfer_syntax_uid, content_date, content_time, blob_key, compression, original_size, stored_size, sha256, chunk_table, frames, frames_encapsulated, dicom_json, created_at, '' FROM instance;

DROP TABLE instance;
DROP TABLE series;
DROP TABLE study;
DROP TABLE patient;

ALTER TABLE patient_new RENAME TO patient;
ALTER TABLE study_new RENAME TO study;
ALTER TABLE series_new RENAME TO series;
ALTER TABLE instance_new RENAME TO instance;

-- The indexes of 0001, gone with the old tables.
CREATE INDEX patient_name_norm_idx ON patient (patient_name_norm);
CREATE INDEX study_patient_ref_idx ON study (patient_ref);
CREATE INDEX study_date_idx ON study (study_date, study_time);
CREATE INDEX study_accession_number_idx ON study (accession_number);
CREATE INDEX study_updated_at_idx ON study (updated_at);
CREATE INDEX series_study_ref_idx ON series (study_ref, modality);
CREATE INDEX series_modality_idx ON series (modality);
CREATE INDEX instance_series_ref_idx ON instance (series_ref, instance_number);

ALTER TABLE app_user ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_event ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_event_tenant_idx ON audit_event (tenant_id, at);
