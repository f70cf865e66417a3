-- Routing jobs: progress (instances sent of total) and, for work that
-- waits (a study sent once it is stable), a key that keeps one pending job
-- per purpose: a new instance of the study postpones that job instead of
-- adding another.
ALTER TABLE job ADD COLUMN done BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job ADD COLUMN total BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job ADD COLUMN dedup TEXT NOT NULL DEFAULT '';
-- Attempts before the last manual retry: `attempts` only grows (it is the
-- lease token of each attempt); the limit counts from here.
ALTER TABLE job ADD COLUMN attempt_base BIGINT NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX job_pending_dedup_idx ON job (dedup) WHERE state = 'pending' AND dedup <> '';
CREATE INDEX job_kind_target_idx ON job (kind, target, state);
CREATE INDEX job_dedup_idx ON job (dedup);
