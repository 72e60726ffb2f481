-- Hardening III (issue 22).

-- Settings of the instance that live in the database, one row each. Today:
-- 'key_check', a constant sealed with GATEHOUSE_KEY_ENCRYPTION_KEY, so that
-- an instance started with another key (or none) refuses to start instead
-- of failing to read the secrets it sealed.
CREATE TABLE settings (
    name TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- Set by a password reset when the account has second factors: /account asks
-- the owner to check them (an intruder who had the password may have added
-- one) until they keep or remove them.
ALTER TABLE users ADD COLUMN factors_review BOOLEAN NOT NULL DEFAULT FALSE;
