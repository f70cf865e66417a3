-- Tenants (one deployment, many hospitals). Keep in step with
-- ../sqlite/0003_tenants.sql.
--
-- Every patient, study, series and instance row belongs to one tenant
-- ('' is the implicit tenant: every row stored before this migration, and
-- every row of a deployment without [[tenants]]). UIDs become unique within
-- a tenant: the same Study Instance UID may be stored by two hospitals
-- without mixing. Users and audit events carry their tenant too. Adding a
-- column with a constant default does not rewrite the tables.

ALTER TABLE patient ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE patient DROP CONSTRAINT patient_patient_id_issuer_of_patient_id_key;
ALTER TABLE patient ADD CONSTRAINT patient_tenant_key UNIQUE (patient_id, issuer_of_patient_id, tenant_id);

ALTER TABLE study ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE study DROP CONSTRAINT study_study_instance_uid_key;
ALTER TABLE study ADD CONSTRAINT study_tenant_key UNIQUE (study_instance_uid, tenant_id);

ALTER TABLE series ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE series DROP CONSTRAINT series_series_instance_uid_key;
ALTER TABLE series ADD CONSTRAINT series_tenant_key UNIQUE (series_instance_uid, tenant_id);

ALTER TABLE instance ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE instance DROP CONSTRAINT instance_sop_instance_uid_key;
ALTER TABLE instance ADD CONSTRAINT instance_tenant_key UNIQUE (sop_instance_uid, tenant_id);

ALTER TABLE app_user ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_event ADD COLUMN tenant_id TEXT NOT NULL DEFAULT '';
CREATE INDEX audit_event_tenant_idx ON audit_event (tenant_id, at);
