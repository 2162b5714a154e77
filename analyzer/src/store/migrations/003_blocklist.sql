-- Enforcement: the block list, one row per blocked identity. docs/inventory-schema.md
-- documents the columns; times are wall-clock Unix seconds.

CREATE TABLE blocklist (
    kind        TEXT NOT NULL,   -- ip, jwt_sub, token, api_key, cookie, user
    value       TEXT NOT NULL,   -- address or CIDR, subject, keyed hash, or user name
    attack      TEXT NOT NULL,   -- the attack class, or 'manual'
    severity    TEXT NOT NULL,
    alert_ids   TEXT NOT NULL,   -- JSON array, most recent last
    origin      TEXT NOT NULL,   -- alert or manual
    created     REAL NOT NULL,
    updated     REAL NOT NULL,
    expires     REAL NOT NULL,
    reason      TEXT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE INDEX blocklist_expires ON blocklist (expires);
