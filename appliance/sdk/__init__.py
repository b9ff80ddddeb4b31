"""The one typed client for coderd's API v2, used by the CLI, agent, daemons and tests."""
