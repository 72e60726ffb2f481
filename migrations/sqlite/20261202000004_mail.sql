-- Mail: verification, password reset, email change and invitations.

ALTER TABLE users ADD COLUMN email_verified BOOLEAN NOT NULL DEFAULT FALSE;

-- Single-use links. Only a SHA-256 hash of each token is kept.
-- purpose: 'verify_email' (email = the address to prove), 'reset_password',
-- 'confirm_email' (email = the new address).
CREATE TABLE email_tokens (
    token_hash TEXT PRIMARY KEY NOT NULL,
    purpose TEXT NOT NULL CHECK (purpose IN ('verify_email', 'reset_password', 'confirm_email')),
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    spent_at BIGINT
);
CREATE INDEX email_tokens_user ON email_tokens (user_id, purpose, created_at);
CREATE INDEX email_tokens_expires ON email_tokens (expires_at);

-- An admin's invitation of an address, with a role. The link's token is kept
-- only as a hash.
CREATE TABLE invitations (
    id TEXT PRIMARY KEY NOT NULL,
    email TEXT NOT NULL,
    email_key TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
    token_hash TEXT NOT NULL UNIQUE,
    invited_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at BIGINT,
    user_id TEXT REFERENCES users (id) ON DELETE SET NULL
);
CREATE INDEX invitations_email ON invitations (email_key);

-- Mail waiting to go out, written in the same transaction as the change that
-- causes it. status: 'pending' (next_attempt_at says when), 'sending' (claimed
-- by one instance until locked_until), 'sent' (the bodies are erased), 'failed'.
CREATE TABLE outbox (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    locked_until BIGINT,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    sent_at BIGINT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- Counters for the limits other than failed logins (signups, mail), each
-- with its own window.
CREATE TABLE rate_limits (
    key TEXT PRIMARY KEY NOT NULL,
    window_start BIGINT NOT NULL,
    window_seconds BIGINT NOT NULL,
    count BIGINT NOT NULL
);
