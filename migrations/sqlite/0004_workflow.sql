-- The RIS workflow: worklist items, performed procedure steps, durable jobs.
-- Keep in step with ../postgres/0004_workflow.sql.

-- A worklist item: one scheduled procedure step of an order (PS3.4 K.6),
-- from an HL7 order, /api/worklist or `filmless worklist add`. The columns
-- are what modalities match on; dicom_json is the whole item as DICOM JSON
-- (what a C-FIND or UPS-RS search returns).
CREATE TABLE worklist_item (
    id                                      INTEGER PRIMARY KEY,
    tenant_id                               TEXT    NOT NULL DEFAULT '',
    status                                  TEXT    NOT NULL,
    placer_order_number                     TEXT    NOT NULL DEFAULT '',
    filler_order_number                     TEXT    NOT NULL DEFAULT '',
    patient_id                              TEXT    NOT NULL DEFAULT '',
    issuer_of_patient_id                    TEXT    NOT NULL DEFAULT '',
    patient_name                            TEXT    NOT NULL DEFAULT '',
    patient_name_norm                       TEXT    NOT NULL DEFAULT '',
    patient_birth_date                      TEXT    NOT NULL DEFAULT '',
    patient_sex                             TEXT    NOT NULL DEFAULT '',
    accession_number                        TEXT    NOT NULL DEFAULT '',
    requested_procedure_id                  TEXT    NOT NULL DEFAULT '',
    requested_procedure_description         TEXT    NOT NULL DEFAULT '',
    study_instance_uid                      TEXT    NOT NULL,
    referring_physician_name                TEXT    NOT NULL DEFAULT '',
    referring_physician_name_norm           TEXT    NOT NULL DEFAULT '',
    scheduled_procedure_step_id             TEXT    NOT NULL DEFAULT '',
    scheduled_station_ae_title              TEXT    NOT NULL DEFAULT '',
    modality                                TEXT    NOT NULL DEFAULT '',
    scheduled_procedure_step_start_date     TEXT    NOT NULL DEFAULT '',
    scheduled_procedure_step_start_time     TEXT    NOT NULL DEFAULT '',
    scheduled_procedure_step_description    TEXT    NOT NULL DEFAULT '',
    dicom_json                              TEXT    NOT NULL,
    created_at                              BIGINT  NOT NULL,
    updated_at                              BIGINT  NOT NULL,
    UNIQUE (study_instance_uid, scheduled_procedure_step_id, tenant_id)
);
CREATE INDEX worklist_item_station_idx ON worklist_item (scheduled_station_ae_title, scheduled_procedure_step_start_date);
CREATE INDEX worklist_item_date_idx ON worklist_item (scheduled_procedure_step_start_date, scheduled_procedure_step_start_time);
CREATE INDEX worklist_item_patient_idx ON worklist_item (patient_id);
CREATE INDEX worklist_item_accession_idx ON worklist_item (accession_number);
CREATE INDEX worklist_item_order_idx ON worklist_item (placer_order_number);
CREATE INDEX worklist_item_name_idx ON worklist_item (patient_name_norm);

-- A Modality Performed Procedure Step (PS3.4 F.7) as the modality reported
-- it: the last N-CREATE/N-SET state as DICOM JSON, and what it links to.
CREATE TABLE mpps (
    id                              INTEGER PRIMARY KEY,
    tenant_id                       TEXT    NOT NULL DEFAULT '',
    sop_instance_uid                TEXT    NOT NULL,
    status                          TEXT    NOT NULL,
    calling_ae_title                TEXT    NOT NULL DEFAULT '',
    study_instance_uid              TEXT    NOT NULL DEFAULT '',
    accession_number                TEXT    NOT NULL DEFAULT '',
    scheduled_procedure_step_id     TEXT    NOT NULL DEFAULT '',
    patient_id                      TEXT    NOT NULL DEFAULT '',
    dicom_json                      TEXT    NOT NULL,
    created_at                      BIGINT  NOT NULL,
    updated_at                      BIGINT  NOT NULL,
    UNIQUE (sop_instance_uid, tenant_id)
);
CREATE INDEX mpps_study_idx ON mpps (study_instance_uid);

-- Durable background work: one row per job, taken by a worker when due,
-- retried with backoff, kept when failed for a person to see. Storage
-- commitment reports are the first kind; routing adds its own.
CREATE TABLE job (
    id                  INTEGER PRIMARY KEY,
    tenant_id           TEXT    NOT NULL DEFAULT '',
    kind                TEXT    NOT NULL,
    target              TEXT    NOT NULL DEFAULT '',
    payload             TEXT    NOT NULL,
    state               TEXT    NOT NULL,
    attempts            BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT  NOT NULL,
    last_error          TEXT    NOT NULL DEFAULT '',
    created_at          BIGINT  NOT NULL,
    updated_at          BIGINT  NOT NULL
);
CREATE INDEX job_due_idx ON job (state, next_attempt_at);

-- Facts about the index's contents that code (not SQL) maintains, such as
-- which version of person-name normalization the *_norm columns hold.
CREATE TABLE index_fact (
    name    TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
