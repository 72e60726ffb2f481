-- The admin list pages through users in the order of their username's lookup
-- key, on user_identifiers' primary key, and searches by key prefix with a
-- range on it. Both need code point order, whatever the database's locale:
-- the keys are machine keys (NFKC, lower case), compared byte by byte.
ALTER TABLE user_identifiers ALTER COLUMN key TYPE TEXT COLLATE "C";
