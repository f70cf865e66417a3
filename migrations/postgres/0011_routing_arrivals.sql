-- Instances that routing rules or prefetch matched, written in the same
-- transaction as the instance's rows and removed in the one that queues
-- their jobs: a crash between the acknowledgment and the jobs loses no
-- routing (the rows left are routed again at the next start).
CREATE TABLE routing_arrival (
    tenant_id           TEXT    NOT NULL DEFAULT '',
    sop_instance_uid    TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    created_at          BIGINT  NOT NULL,
    PRIMARY KEY (tenant_id, sop_instance_uid)
);
CREATE INDEX routing_arrival_created_idx ON routing_arrival (created_at);
