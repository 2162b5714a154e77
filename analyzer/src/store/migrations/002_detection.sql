-- Detection: the learned state (so a restart or second replay resumes it), the alerts, and
-- the rules distilled from what was flagged. docs/alert-schema.md documents the columns.

CREATE TABLE detector_state (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    saved_at  REAL NOT NULL,
    state     TEXT NOT NULL
);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    attack          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    score           REAL NOT NULL,
    first_seen      REAL NOT NULL,
    last_seen       REAL NOT NULL,
    detected_at     REAL NOT NULL,
    identity_kind   TEXT NOT NULL,
    identity_value  TEXT NOT NULL,
    src_ips         TEXT NOT NULL,
    endpoints       TEXT NOT NULL,
    summary         TEXT NOT NULL,
    alert           TEXT NOT NULL
);
CREATE INDEX alerts_attack ON alerts (attack);

CREATE TABLE detection_rules (
    attack      TEXT NOT NULL,
    conditions  TEXT NOT NULL,
    support     INTEGER NOT NULL
);
