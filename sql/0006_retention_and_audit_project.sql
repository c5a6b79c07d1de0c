-- Retention deletes by time and the audit views filter by time, actor and project: index them
-- so neither scans the whole table. audit_log gains a project column (a project session's actor
-- is its project, so old rows are backfilled from it).

CREATE INDEX tunnel_health_ts ON tunnel_health (ts);
CREATE INDEX audit_log_ts ON audit_log (ts);
CREATE INDEX audit_log_actor ON audit_log (actor);

ALTER TABLE audit_log ADD COLUMN project TEXT;
UPDATE audit_log SET project = actor WHERE role = 'project';
CREATE INDEX audit_log_project_ts ON audit_log (project, ts);
