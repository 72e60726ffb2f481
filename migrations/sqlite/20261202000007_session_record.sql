-- The browser session record (tower-sessions' id, the cookie's value) a
-- signed-in session lives in: the session check finds the session and its
-- user from the cookie in one query, without loading the record.
ALTER TABLE user_sessions ADD COLUMN record_id TEXT;
CREATE UNIQUE INDEX user_sessions_record ON user_sessions (record_id);
