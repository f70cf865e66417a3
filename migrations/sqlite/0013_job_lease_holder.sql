-- Which process holds a running job's lease ("pid:PID:START:BOOT", START
-- the process's start time in clock ticks since boot BOOT): a server
-- starting on
-- SQLite ends the leases of processes that are gone, not those of a live
-- `filmless send --wait` running the job beside it. '' before this.
ALTER TABLE job ADD COLUMN lease_holder TEXT NOT NULL DEFAULT '';
