-- How many hostnames each project holds, kept by triggers in the same transaction as every insert,
-- delete or change of project of a row: the quota check, status and every list page's total read one
-- row here instead of counting the project's names (or, for the admin, every name).
CREATE TABLE cname_counts (
    project TEXT    PRIMARY KEY,
    n       INTEGER NOT NULL CHECK (n >= 0)
) WITHOUT ROWID;

INSERT INTO cname_counts (project, n) SELECT project, COUNT(*) FROM cnames GROUP BY project;

CREATE TRIGGER cname_counts_insert AFTER INSERT ON cnames BEGIN
    INSERT INTO cname_counts (project, n) VALUES (NEW.project, 1)
        ON CONFLICT (project) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER cname_counts_delete AFTER DELETE ON cnames BEGIN
    UPDATE cname_counts SET n = n - 1 WHERE project = OLD.project;
    DELETE FROM cname_counts WHERE project = OLD.project AND n = 0;
END;

CREATE TRIGGER cname_counts_project AFTER UPDATE OF project ON cnames
WHEN OLD.project IS NOT NEW.project BEGIN
    UPDATE cname_counts SET n = n - 1 WHERE project = OLD.project;
    DELETE FROM cname_counts WHERE project = OLD.project AND n = 0;
    INSERT INTO cname_counts (project, n) VALUES (NEW.project, 1)
        ON CONFLICT (project) DO UPDATE SET n = n + 1;
END;
