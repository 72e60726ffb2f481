-- Gatehouse as an OpenID Connect provider.

-- How a browser session's sign-in proved who the user is (RFC 8176 `amr`
-- values, space-separated): the ID tokens of its authorizations carry it.
ALTER TABLE user_sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';

-- The apps that sign their users in through Gatehouse. Lists are JSON arrays
-- (URIs) or space-separated (scopes, grant types); a confidential client's
-- secret is stored only as a SHA-256 hash (it is 256 random bits).
CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    secret_hash TEXT,
    redirect_uris TEXT NOT NULL,
    post_logout_redirect_uris TEXT NOT NULL,
    scopes TEXT NOT NULL,
    grant_types TEXT NOT NULL,
    first_party BOOLEAN NOT NULL DEFAULT FALSE,
    enabled BOOLEAN NOT NULL DEFAULT TRUE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- What a user allowed a client (scopes, space-separated).
CREATE TABLE oauth_consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes TEXT NOT NULL,
    granted_at BIGINT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Authorization codes, stored only as SHA-256 hashes; single use. family_id
-- is the grant its exchange started (revoked when the code comes again).
CREATE TABLE oauth_codes (
    code_hash TEXT PRIMARY KEY NOT NULL,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT,
    code_challenge TEXT NOT NULL,
    auth_time BIGINT NOT NULL,
    amr TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT,
    family_id TEXT
);
CREATE INDEX oauth_codes_expires ON oauth_codes (expires_at);

-- A grant to a client is a token family like the API's: client_id and scope
-- set (NULL for the API's own families), and the sign-in it came from.
ALTER TABLE refresh_families ADD COLUMN client_id TEXT REFERENCES oauth_clients (id) ON DELETE CASCADE;
ALTER TABLE refresh_families ADD COLUMN scope TEXT;
ALTER TABLE refresh_families ADD COLUMN amr TEXT;
CREATE INDEX refresh_families_client ON refresh_families (client_id);

-- Access tokens revoked one by one (RFC 7009), until they would have expired.
CREATE TABLE revoked_access_tokens (
    jti TEXT PRIMARY KEY NOT NULL,
    expires_at BIGINT NOT NULL
);
