-- `audit --action X` (and tunnel_audit_log's action filter) read the newest rows of one action: an
-- index in that order answers from the index instead of scanning the whole log (1M rows: a full scan
-- per call). With a project too, audit_log_project_ts narrows first.
CREATE INDEX IF NOT EXISTS audit_log_action_ts ON audit_log (action, ts);
