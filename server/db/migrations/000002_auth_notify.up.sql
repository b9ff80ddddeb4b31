-- Tell every coderd process when a user's sessions must be re-checked, so
-- cached authentications never outlive a suspension, role change or revoked key.
CREATE FUNCTION notify_auth_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    affected uuid;
BEGIN
    IF TG_TABLE_NAME = 'users' THEN
        affected := COALESCE(NEW.id, OLD.id);
    ELSE
        affected := COALESCE(NEW.user_id, OLD.user_id);
    END IF;
    PERFORM pg_notify('coderd_auth', affected::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER users_auth_change AFTER UPDATE OF status, rbac_roles, deleted, hashed_password ON users
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
CREATE TRIGGER api_keys_auth_change AFTER DELETE OR UPDATE OF expires_at, hashed_secret ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
CREATE TRIGGER organization_members_auth_change AFTER INSERT OR DELETE OR UPDATE ON organization_members
    FOR EACH ROW EXECUTE FUNCTION notify_auth_change();
