-- Filmless index, SQLite dialect. Keep in step with ../postgres/0001_archive.sql:
-- same tables, same columns, same version numbers.
-- Texts absent from a data set are stored as '' so matching never special-cases NULL.

CREATE TABLE patient (
    id                          INTEGER PRIMARY KEY,
    patient_id                  TEXT    NOT NULL,
    issuer_of_patient_id        TEXT    NOT NULL DEFAULT '',
    patient_name                TEXT    NOT NULL DEFAULT '',
    patient_name_norm           TEXT    NOT NULL DEFAULT '',
    patient_birth_date          TEXT    NOT NULL DEFAULT '',
    patient_sex                 TEXT    NOT NULL DEFAULT '',
    created_at                  INTEGER NOT NULL,
    UNIQUE (patient_id, issuer_of_patient_id)
);
CREATE INDEX patient_name_norm_idx ON patient (patient_name_norm);

CREATE TABLE study (
    id                                  INTEGER PRIMARY KEY,
    patient_ref                         INTEGER NOT NULL REFERENCES patient (id),
    study_instance_uid                  TEXT    NOT NULL UNIQUE,
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
    updated_at                          INTEGER NOT NULL
);
CREATE INDEX study_patient_ref_idx ON study (patient_ref);
CREATE INDEX study_date_idx ON study (study_date, study_time);
CREATE INDEX study_accession_number_idx ON study (accession_number);
CREATE INDEX study_updated_at_idx ON study (updated_at);

CREATE TABLE series (
    id                                  INTEGER PRIMARY KEY,
    study_ref                           INTEGER NOT NULL REFERENCES study (id),
    series_instance_uid                 TEXT    NOT NULL UNIQUE,
    modality                            TEXT    NOT NULL DEFAULT '',
    series_number                       INTEGER,
    series_description                  TEXT    NOT NULL DEFAULT '',
    body_part_examined                  TEXT    NOT NULL DEFAULT '',
    series_date                         TEXT    NOT NULL DEFAULT '',
    series_time                         TEXT    NOT NULL DEFAULT '',
    station_name                        TEXT    NOT NULL DEFAULT '',
    number_of_series_related_instances  INTEGER NOT NULL DEFAULT 0,
    created_at                          INTEGER NOT NULL
);
CREATE INDEX series_study_ref_idx ON series (study_ref, modality);
CREATE INDEX series_modality_idx ON series (modality);

CREATE TABLE instance (
    id                      INTEGER PRIMARY KEY,
    series_ref              INTEGER NOT NULL REFERENCES series (id),
    sop_instance_uid        TEXT    NOT NULL UNIQUE,
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
    created_at              INTEGER NOT NULL
);
CREATE INDEX instance_series_ref_idx ON instance (series_ref, instance_number);
