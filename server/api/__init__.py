"""API v2 blueprints, one module per domain, mounted under /api/v2."""
from . import apikeys, audit, general, organizations, provisionerd, provisioners, users
from . import dryruns, files, relay, templates, workspaceagents, workspaces
from . import deployment, examples, portshares, preferences, roles, workspaceevents, workspaceusage
from . import workspaceproxies

ROUTERS = (general.router, users.router, apikeys.router, organizations.router, audit.router,
           provisionerd.router, provisioners.router, files.router, templates.router,
           dryruns.router, workspaces.router, workspaceagents.router, relay.router,
           deployment.router, examples.router, preferences.router, roles.router,
           workspaceevents.router, workspaceusage.router, portshares.router,
           workspaceproxies.router)
