-- Film sheets printed by modalities (Print Management SCP), each filed as
-- a Secondary Capture (and an encapsulated PDF) into a study. How the study
-- was found is kept; sheets that matched none went into a new study and
-- wait in the reconciliation list until someone files them properly.
CREATE TABLE print_sheet (
    id                    INTEGER PRIMARY KEY,
    tenant_id             TEXT    NOT NULL DEFAULT '',
    sop_instance_uid      TEXT    NOT NULL,
    pdf_sop_instance_uid  TEXT    NOT NULL DEFAULT '',
    study_instance_uid    TEXT    NOT NULL,
    patient_id            TEXT    NOT NULL DEFAULT '',
    calling_ae_title      TEXT    NOT NULL DEFAULT '',
    matched_by            TEXT    NOT NULL,
    film_format           TEXT    NOT NULL DEFAULT '',
    images                BIGINT  NOT NULL DEFAULT 0,
    printed_at            BIGINT  NOT NULL
);
CREATE INDEX print_sheet_study_idx ON print_sheet (tenant_id, study_instance_uid);
CREATE INDEX print_sheet_matched_idx ON print_sheet (tenant_id, matched_by, printed_at);
-- A print that names no study is matched to what its station stored last.
CREATE INDEX audit_event_actor_idx ON audit_event (actor, action, at);
