"""Every query coderd runs, one class per domain, joined in ``Queries``."""
from .agents import AgentQueries
from .apikeys import APIKeyQueries
from .audit import AuditQueries
from .dashboard import DashboardQueries
from .deployment import DeploymentQueries
from .files import FileQueries
from .gitsshkeys import GitSSHKeyQueries
from .organizations import OrganizationQueries
from .provisioner import ProvisionerQueries
from .relay import RelayQueries
from .templates import TemplateQueries
from .users import UserQueries
from .workspaceproxies import WorkspaceProxyQueries
from .workspaces import WorkspaceQueries


class Queries(UserQueries, OrganizationQueries, APIKeyQueries, AuditQueries, DeploymentQueries,
              ProvisionerQueries, FileQueries, TemplateQueries, WorkspaceQueries, AgentQueries,
              RelayQueries, DashboardQueries, GitSSHKeyQueries, WorkspaceProxyQueries):
    """The raw store. Handlers never use it directly: see server.authz.querier."""


__all__ = ["Queries"]
