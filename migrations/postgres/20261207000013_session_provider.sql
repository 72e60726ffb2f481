-- The identity provider a session signed in through (NULL: a password or a
-- passkey). Unlinking the provider ends the sessions it started.
ALTER TABLE user_sessions ADD COLUMN provider TEXT;
