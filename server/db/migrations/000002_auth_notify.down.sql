DROP TRIGGER organization_members_auth_change ON organization_members;
DROP TRIGGER api_keys_auth_change ON api_keys;
DROP TRIGGER users_auth_change ON users;
DROP FUNCTION notify_auth_change();
