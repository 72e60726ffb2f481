-- Accounts and browser sessions. Times are Unix seconds (UTC); ids are UUID text.

-- One row once the first admin exists: the database, not a check-then-insert,
-- makes setup happen exactly once.
CREATE TABLE instance (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    setup_at BIGINT NOT NULL,
    setup_user_id TEXT NOT NULL
);

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    username TEXT NOT NULL,
    email TEXT,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_login_at BIGINT,
    password_changed_at BIGINT NOT NULL
);

-- Usernames and emails share one case-insensitive namespace, so that a login
-- identifier names at most one account.
CREATE TABLE user_identifiers (
    key TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('username', 'email'))
);
CREATE INDEX user_identifiers_user ON user_identifiers (user_id);

-- A signed-in browser session. The tower-sessions record holds only this id;
-- this row holds its lifetime, so that sessions can be listed and revoked by user.
CREATE TABLE user_sessions (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    remember BOOLEAN NOT NULL,
    user_agent TEXT,
    ip TEXT
);
CREATE INDEX user_sessions_user ON user_sessions (user_id);
CREATE INDEX user_sessions_expires ON user_sessions (expires_at);
