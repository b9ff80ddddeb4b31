"""API v2 blueprints, one module per domain, mounted under /api/v2."""
from . import apikeys, audit, general, organizations, provisionerd, provisioners, users
from . import files, relay, templates, workspaceagents, workspaces

ROUTERS = (general.router, users.router, apikeys.router, organizations.router, audit.router,
           provisionerd.router, provisioners.router, files.router, templates.router,
           workspaces.router, workspaceagents.router, relay.router)
