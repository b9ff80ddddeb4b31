-- coderd's own user, as Coder's prebuilds user (its migration 000302): the initiator of
-- work no person asked for (the installer's template import check), since jobs, files
-- and template versions need one. It cannot log in (login type none, no password),
-- belongs to no organization, and every query that finds users for people leaves it
-- out: before the first user, there is still no user. Its ID is SYSTEM_USER_ID in
-- server/db/queries/users.py; its username is taken, so no person can have it.
ALTER TABLE users ADD COLUMN is_system boolean NOT NULL DEFAULT false;

INSERT INTO users (id, email, username, name, login_type, is_system)
VALUES ('a5fa4f2d-5792-4aac-b608-fd09b976e38e', 'system@coder-appliance.invalid',
        'appliance-system', 'coder-appliance system', 'none', true);
