-- Login throttling and the audit log.

-- Failed logins per client (key "ip:<address>"), counted in a window that
-- starts at the first failure. In the database so every instance shares it.
CREATE TABLE login_failures (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL
);

-- Consecutive failures per account (key "user:<id>") and per identifier that
-- names no account (key "ident:<identifier>"), so both lock alike.
CREATE TABLE lockouts (
    key TEXT PRIMARY KEY NOT NULL,
    failures BIGINT NOT NULL,
    lock_count BIGINT NOT NULL,
    locked_until BIGINT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    event TEXT NOT NULL,
    user_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_user ON audit_log (user_id, at);
CREATE INDEX audit_log_event ON audit_log (event, at);
