-- Signing keys become key pairs (RS256): the public key, as a JWK, beside
-- the (sealed) private key. The HS256 secrets of earlier versions have none.
ALTER TABLE signing_keys ADD COLUMN public_jwk TEXT;
