-- The original tunnelmgr schema, kept as it first shipped so that databases created by it
-- upgrade through the later migrations. Times are Unix milliseconds; JSON columns hold text.

CREATE TABLE cnames (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname       TEXT    NOT NULL UNIQUE,
    subdomain      TEXT    NOT NULL,
    domain         TEXT    NOT NULL,
    project        TEXT    NOT NULL,
    port           INTEGER NOT NULL,
    target         TEXT    NOT NULL,
    target_type    TEXT,
    container_name TEXT,
    docker_network TEXT,
    dns_record_id  TEXT,
    zone_id        TEXT,
    created_at     INTEGER NOT NULL,
    UNIQUE (subdomain, domain)
);

CREATE TABLE tunnel_health (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    ts                INTEGER NOT NULL,
    status            TEXT    NOT NULL,
    ready_connections INTEGER,
    restart_count     INTEGER,
    last_error        TEXT,
    uptime_s          INTEGER,
    detail            TEXT
);

CREATE TABLE domains (
    zone_id    TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    status     TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE docker_networks (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    driver     TEXT,
    scope      TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE docker_containers (
    id         TEXT PRIMARY KEY,
    name       TEXT    NOT NULL,
    image      TEXT,
    state      TEXT,
    project    TEXT,
    updated_at INTEGER NOT NULL
);

CREATE TABLE container_networks (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    container_id TEXT NOT NULL,
    network_id   TEXT NOT NULL,
    ip           TEXT,
    aliases      TEXT
);

CREATE TABLE container_ports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    container_id   TEXT    NOT NULL,
    container_port INTEGER NOT NULL,
    protocol       TEXT,
    host_ip        TEXT,
    host_port      INTEGER
);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      INTEGER NOT NULL,
    actor   TEXT    NOT NULL,
    role    TEXT,
    action  TEXT    NOT NULL,
    target  TEXT,
    result  TEXT,
    error   TEXT,
    details TEXT
);
