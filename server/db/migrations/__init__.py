"""Numbered SQL migrations (data files; see server.db.migrate)."""
