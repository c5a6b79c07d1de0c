-- Listing one project's hostnames a page at a time (ORDER BY hostname LIMIT/OFFSET): an index
-- that is already in that order spares sorting every one of the project's rows for each page.
CREATE INDEX IF NOT EXISTS cnames_project_hostname ON cnames (project, hostname);
DROP INDEX IF EXISTS cnames_project;
