-- Studies whose patient was corrected or merged (HL7 ADT^A08, ADT^A40)
-- after their instances were stored: the attributes the instances must
-- carry when they leave the archive (WADO-RS, C-MOVE, C-GET, routing),
-- applied on the way out; the stored objects stay as received.
CREATE TABLE patient_patch (
    tenant_id           TEXT    NOT NULL DEFAULT '',
    study_instance_uid  TEXT    NOT NULL,
    patient_json        TEXT    NOT NULL,
    updated_at          BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, study_instance_uid)
);
