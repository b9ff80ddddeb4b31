-- What the system user made (the install check's template versions, jobs and files),
-- then the user itself.
DELETE FROM template_versions WHERE created_by = 'a5fa4f2d-5792-4aac-b608-fd09b976e38e';
DELETE FROM provisioner_jobs WHERE initiator_id = 'a5fa4f2d-5792-4aac-b608-fd09b976e38e';
DELETE FROM files WHERE created_by = 'a5fa4f2d-5792-4aac-b608-fd09b976e38e';
DELETE FROM users WHERE id = 'a5fa4f2d-5792-4aac-b608-fd09b976e38e';
ALTER TABLE users DROP COLUMN is_system;
