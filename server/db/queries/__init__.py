"""Every query coderd runs, one class per domain, joined in ``Queries``."""
from .apikeys import APIKeyQueries
from .audit import AuditQueries
from .deployment import DeploymentQueries
from .organizations import OrganizationQueries
from .provisioner import ProvisionerQueries
from .users import UserQueries


class Queries(UserQueries, OrganizationQueries, APIKeyQueries, AuditQueries, DeploymentQueries,
              ProvisionerQueries):
    """The raw store. Handlers never use it directly: see server.authz.querier."""


__all__ = ["Queries"]
