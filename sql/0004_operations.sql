-- The CNAME pipeline's journal: one row per create/delete request, moved through its states and
-- persisted before each next step, so a crash leaves a row that start-up can finish or roll back.
-- While an operation is unfinished it holds its hostname: the partial unique index makes a second
-- operation_begin on that name fail, across processes.

CREATE TABLE operations (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('create', 'delete')),
    hostname   TEXT    NOT NULL COLLATE NOCASE,
    project    TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    data       TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE UNIQUE INDEX operations_unfinished_hostname
    ON operations (hostname)
    WHERE state NOT IN ('committed', 'rolled_back');

CREATE INDEX operations_state ON operations (state);
