-- Docker re-polling used to append a second copy of every network attachment and port binding,
-- because their only key was a row id. Give both tables their natural keys so a poll replaces
-- rows, tie them to their container, and remember when the snapshot was taken.
-- (Runs with foreign keys off, as SQLite's table-rebuild procedure requires.)

CREATE TABLE container_networks_new (
    container_id TEXT NOT NULL REFERENCES docker_containers (id) ON DELETE CASCADE,
    network_id   TEXT NOT NULL,
    ip           TEXT,
    aliases      TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (container_id, network_id)
) WITHOUT ROWID;

-- The newest copy of a duplicated attachment wins.
INSERT OR REPLACE INTO container_networks_new (container_id, network_id, ip, aliases)
SELECT container_id, network_id, ip, COALESCE(aliases, '[]')
FROM container_networks
WHERE container_id IN (SELECT id FROM docker_containers)
ORDER BY id;

DROP TABLE container_networks;
ALTER TABLE container_networks_new RENAME TO container_networks;

-- An exposed but unpublished port has host_ip '' and host_port 0: primary-key columns must not be
-- NULL, or two identical unpublished ports would not count as duplicates.
CREATE TABLE container_ports_new (
    container_id   TEXT    NOT NULL REFERENCES docker_containers (id) ON DELETE CASCADE,
    container_port INTEGER NOT NULL,
    protocol       TEXT    NOT NULL DEFAULT 'tcp',
    host_ip        TEXT    NOT NULL DEFAULT '',
    host_port      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (container_id, container_port, protocol, host_ip, host_port)
) WITHOUT ROWID;

INSERT OR REPLACE INTO container_ports_new (container_id, container_port, protocol, host_ip, host_port)
SELECT container_id, container_port, COALESCE(protocol, 'tcp'), COALESCE(host_ip, ''), COALESCE(host_port, 0)
FROM container_ports
WHERE container_id IN (SELECT id FROM docker_containers)
ORDER BY id;

DROP TABLE container_ports;
ALTER TABLE container_ports_new RENAME TO container_ports;

CREATE TABLE docker_snapshot (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    taken_ms  INTEGER NOT NULL
);
