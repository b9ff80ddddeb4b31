-- Every user the API returns carries its organization IDs. Looking them up per
-- row cost PostgreSQL more than the rest of a page of users, and how it looked
-- them up depended on the tables' statistics; the users row now keeps them, in
-- join order, and a trigger keeps them true in the membership's transaction.
ALTER TABLE users ADD COLUMN organization_ids uuid[] NOT NULL DEFAULT '{}';

UPDATE users u SET organization_ids = ARRAY(
    SELECT m.organization_id FROM organization_members m
    WHERE m.user_id = u.id ORDER BY m.created_at);

CREATE FUNCTION sync_user_organization_ids() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE users SET organization_ids = array_remove(organization_ids, OLD.organization_id)
        WHERE id = OLD.user_id;
    END IF;
    IF TG_OP <> 'DELETE' THEN
        UPDATE users SET organization_ids =
            array_append(array_remove(organization_ids, NEW.organization_id), NEW.organization_id)
        WHERE id = NEW.user_id;
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER organization_members_user_organization_ids
    AFTER INSERT OR DELETE OR UPDATE OF user_id, organization_id ON organization_members
    FOR EACH ROW EXECUTE FUNCTION sync_user_organization_ids();
