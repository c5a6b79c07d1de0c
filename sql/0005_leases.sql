-- Several tunnelmgr processes share one database; only the holder of a lease runs the background
-- loops. A lease past expires_at_ms may be taken over by anyone.

CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,
    holder        TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    acquired_at   INTEGER NOT NULL
) WITHOUT ROWID;
