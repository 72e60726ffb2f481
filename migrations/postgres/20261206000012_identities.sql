-- Sign in with another identity provider: which provider account
-- (`provider`, its `subject`) belongs to which user. One user has at most
-- one identity per provider; an identity belongs to one user.
CREATE TABLE user_identities (
    provider TEXT NOT NULL,
    subject TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    email TEXT,
    -- The provider said it verified `email` when the identity was linked.
    -- A password reset (which proves the mailbox) removes the identities
    -- that came without that proof: someone may have claimed the address.
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    PRIMARY KEY (provider, subject),
    UNIQUE (user_id, provider)
);
