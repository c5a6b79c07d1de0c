-- DNS names are case-insensitive, but the first schema compared them byte for byte, so
-- "App.example.com" and "app.example.com" could both be claimed. Rebuild cnames with NOCASE
-- uniqueness and store names lower-cased; of two rows that differ only in case, the older stays.

CREATE TABLE cnames_new (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    hostname       TEXT    NOT NULL COLLATE NOCASE UNIQUE,
    subdomain      TEXT    NOT NULL COLLATE NOCASE,
    domain         TEXT    NOT NULL COLLATE NOCASE,
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

INSERT OR IGNORE INTO cnames_new (id, hostname, subdomain, domain, project, port, target, target_type,
                                  container_name, docker_network, dns_record_id, zone_id, created_at)
SELECT id, lower(hostname), lower(subdomain), lower(domain), project, port, target, target_type,
       container_name, docker_network, dns_record_id, zone_id, created_at
FROM cnames
ORDER BY id;

DROP TABLE cnames;
ALTER TABLE cnames_new RENAME TO cnames;

CREATE INDEX cnames_project ON cnames (project);

CREATE INDEX domains_name ON domains (name COLLATE NOCASE);
