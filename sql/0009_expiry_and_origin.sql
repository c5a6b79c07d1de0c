-- Plugin API 1.3: a published name may expire (expires_at, Unix ms; the daemon's expiry pass removes it)
-- and may carry its own cloudflared originRequest (origin_request, the object's compact JSON text).
-- Few names expire, so the expiry pass reads a partial index that holds only those rows.
ALTER TABLE cnames ADD COLUMN expires_at INTEGER NULL;
ALTER TABLE cnames ADD COLUMN origin_request TEXT NULL;
CREATE INDEX IF NOT EXISTS cnames_expires_at ON cnames (expires_at) WHERE expires_at IS NOT NULL;

-- A third kind of operation, "retarget" (the row's service changes, its DNS record does not). SQLite
-- cannot change a CHECK constraint in place, so the journal is rebuilt with its rows, ids and indexes.
CREATE TABLE operations_new (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('create', 'delete', 'retarget')),
    hostname   TEXT    NOT NULL COLLATE NOCASE,
    project    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    data       TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

INSERT INTO operations_new (id, kind, hostname, project, state, data, created_at, updated_at)
SELECT id, kind, hostname, project, state, data, created_at, updated_at
FROM operations
ORDER BY id;

-- Carry the id sequence over as it was, so no operation id is ever handed out twice.
DELETE FROM sqlite_sequence WHERE name = 'operations_new';
INSERT INTO sqlite_sequence (name, seq) SELECT 'operations_new', seq FROM sqlite_sequence WHERE name = 'operations';

DROP TABLE operations;
ALTER TABLE operations_new RENAME TO operations;

CREATE UNIQUE INDEX IF NOT EXISTS operations_unfinished_hostname
    ON operations (hostname)
    WHERE state NOT IN ('committed', 'rolled_back');

CREATE INDEX IF NOT EXISTS operations_state ON operations (state);
