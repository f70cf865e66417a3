-- Scheduled Performing Physician's Name (0040,0006): a matching key of the
-- modality worklist (PS3.4 Table K.6-1), matched like every person name
-- (the _norm column folds case and accents).
ALTER TABLE worklist_item ADD COLUMN scheduled_performing_physician_name TEXT NOT NULL DEFAULT '';
ALTER TABLE worklist_item ADD COLUMN scheduled_performing_physician_name_norm TEXT NOT NULL DEFAULT '';
