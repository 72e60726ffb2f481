-- Hardening: look-alike usernames, and sessions bound to a password.

-- The UTS #39 confusable skeleton of the username's lookup key: two names
-- that look alike have one skeleton, and only one of them can exist. Filled
-- for existing users at start-up.
ALTER TABLE users ADD COLUMN username_skeleton TEXT;
CREATE UNIQUE INDEX users_username_skeleton ON users (username_skeleton);

-- The user's password_changed_at when the session or token family was
-- authenticated: one made with an older password is refused.
ALTER TABLE user_sessions ADD COLUMN password_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE refresh_families ADD COLUMN password_at BIGINT NOT NULL DEFAULT 0;
UPDATE user_sessions SET password_at = (SELECT u.password_changed_at FROM users u WHERE u.id = user_sessions.user_id);
UPDATE refresh_families SET password_at = (SELECT u.password_changed_at FROM users u WHERE u.id = refresh_families.user_id);
