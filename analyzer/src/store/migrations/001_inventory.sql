-- The API inventory. One row per endpoint (host, method, path template), with child tables
-- for what it has many of. docs/inventory-schema.md documents every column.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE endpoints (
    id                  INTEGER PRIMARY KEY,
    host                TEXT NOT NULL,
    method              TEXT NOT NULL,
    path                TEXT NOT NULL,
    first_seen          REAL NOT NULL,
    last_seen           REAL NOT NULL,
    calls               INTEGER NOT NULL,
    confidence          REAL NOT NULL,
    auth                TEXT NOT NULL,
    flags               TEXT NOT NULL,
    clients             INTEGER NOT NULL,
    credentials         INTEGER NOT NULL,
    latency_p50_ms      REAL,
    latency_p95_ms      REAL,
    request_bytes_p50   REAL,
    request_bytes_p95   REAL,
    response_bytes_p50  REAL,
    response_bytes_p95  REAL,
    unauth_success      INTEGER NOT NULL,
    jwt_seen            INTEGER NOT NULL,
    jwt_alg_none        INTEGER NOT NULL,
    jwt_no_exp          INTEGER NOT NULL,
    jwt_long_lived      INTEGER NOT NULL,
    jwt_max_lifetime_s  INTEGER,
    dropped             INTEGER NOT NULL,
    bodies_analyzed     INTEGER NOT NULL,
    sketches            BLOB NOT NULL,
    UNIQUE (host, method, path)
);

CREATE TABLE statuses (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    status      INTEGER NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, status)
);

CREATE TABLE auth_schemes (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    scheme      TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, scheme)
);

CREATE TABLE jwt_facts (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL,
    value       TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, kind, value)
);

CREATE TABLE content_types (
    endpoint_id  INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    direction    TEXT NOT NULL,
    content_type TEXT NOT NULL,
    count        INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, direction, content_type)
);

CREATE TABLE parameters (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    location    TEXT NOT NULL,
    name        TEXT NOT NULL,
    present     INTEGER NOT NULL,
    types       TEXT NOT NULL,
    formats     TEXT NOT NULL,
    min         REAL,
    max         REAL,
    min_length  INTEGER,
    max_length  INTEGER,
    example     TEXT,
    PRIMARY KEY (endpoint_id, location, name)
);

CREATE TABLE sensitive_data (
    endpoint_id INTEGER NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    location    TEXT NOT NULL,
    field       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    count       INTEGER NOT NULL,
    PRIMARY KEY (endpoint_id, location, field, kind)
);

CREATE INDEX endpoints_by_host ON endpoints (host, path);
CREATE INDEX sensitive_by_kind ON sensitive_data (kind);
