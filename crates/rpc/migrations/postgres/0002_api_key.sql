-- The name of the API key a session was asked for with (NULL without --api-key-file, and for the rows of before):
-- wallet_getGrantedExecutionPermissions without `from` answers the caller's key's own grants.
ALTER TABLE keyscope_sessions ADD COLUMN api_key TEXT;
CREATE INDEX keyscope_sessions_by_api_key ON keyscope_sessions (api_key, account) WHERE api_key IS NOT NULL;
