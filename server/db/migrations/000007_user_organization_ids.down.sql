DROP TRIGGER IF EXISTS organization_members_user_organization_ids ON organization_members;
DROP FUNCTION IF EXISTS sync_user_organization_ids();
ALTER TABLE users DROP COLUMN IF EXISTS organization_ids;
