"""What tests start and drive, in one place (like Coder's coderdtest): a real PostgreSQL
(``postgres``), coderd (``coderd``), agents (``agent``), provisioner jobs
(``provisioning``), the browser and the dashboard's checks, and the raw-HTTP, proxy and
websocket tools the attack tests use. Test modules import from here, never from each other."""
