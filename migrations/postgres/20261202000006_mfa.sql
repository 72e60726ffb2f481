-- Second factors, passkeys and re-authentication.

-- Whether the user has a second factor (a confirmed TOTP or a passkey),
-- kept with each change of factors, so the session check reads it for free.
ALTER TABLE users ADD COLUMN mfa_enabled BOOLEAN NOT NULL DEFAULT FALSE;

-- When this session or token family last proved who it is (a sign-in or a
-- re-authentication): sensitive changes need one within GATEHOUSE_REAUTH_MINUTES.
ALTER TABLE user_sessions ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN auth_at BIGINT NOT NULL DEFAULT 0;
UPDATE user_sessions SET auth_at = created_at;
UPDATE refresh_families SET auth_at = created_at;

-- A TOTP secret (RFC 6238), confirmed once the user typed a code from it.
-- last_step is the time step of the last accepted code: a code is accepted once.
CREATE TABLE totp_secrets (
    user_id TEXT PRIMARY KEY NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    confirmed_at BIGINT,
    last_step BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

-- Single-use recovery codes, stored only as SHA-256 hashes.
CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    used_at BIGINT,
    PRIMARY KEY (user_id, code_hash)
);

-- WebAuthn credentials (the serialised webauthn-rs Passkey).
CREATE TABLE passkeys (
    id TEXT PRIMARY KEY NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    passkey TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);
CREATE INDEX passkeys_user ON passkeys (user_id);

-- Server-side state of WebAuthn ceremonies and of sign-ins waiting for a
-- second factor: single use, short-lived. kind: 'passkey_register',
-- 'passkey_login', 'passkey_second_factor', 'passkey_reauth', 'mfa_pending'.
CREATE TABLE auth_challenges (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    user_id TEXT REFERENCES users (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX auth_challenges_expires ON auth_challenges (expires_at);
