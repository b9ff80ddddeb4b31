"""Deployment values: coderd's own."""
from ..policy import system_only


class DeploymentPolicies:
    get_deployment_value = system_only()
    insert_deployment_value = system_only()
