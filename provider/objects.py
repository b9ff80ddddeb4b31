"""What the provider's resources and data sources share: a name, a ``Spec``, config checks,
and the plain create and read of objects that live only in terraform's state.

Below ``provider.plugin``, which lists them: each resource module imports this, never the
provider process.
"""
from __future__ import annotations

import uuid

from tf.schema import Schema
from tf.types import Unknown
from tf.utils import Diagnostics

from provider.schema import Spec


class _Object:
    """What resources and data sources share: a name, a ``Spec`` and config checks."""
    NAME = ""
    SPEC: Spec

    def __init__(self, provider):
        self.provider = provider  # provider.plugin.CoderProvider: its ``url``

    @classmethod
    def get_name(cls) -> str:
        return cls.NAME

    @classmethod
    def get_schema(cls) -> Schema:
        return cls.SPEC.tf_schema

    def validate(self, diags: Diagnostics, type_name: str, config: dict) -> None:
        self.check(diags, config)
        self.SPEC.warn_deprecated(diags, config)

    def check(self, diags: Diagnostics, config: dict) -> None:
        """Checks of the configuration (values may still be unknown)."""


class Resource(_Object):
    """A Coder resource: exists only in the state, so create/read/delete touch nothing outside."""

    def plan_new(self, diags: Diagnostics, config: dict) -> dict:
        return self.SPEC.planned(config)

    def create(self, diags: Diagnostics, planned: dict) -> dict:
        state = dict(planned)
        if state.get("id") is Unknown:
            state["id"] = str(uuid.uuid4())
        self.fill_outputs(diags, state)
        return state

    def fill_outputs(self, diags: Diagnostics, state: dict) -> None:
        """Give every output still unknown its value (at apply)."""

    def read(self, ctx, current: dict) -> dict:
        return self.refresh(current)

    def refresh(self, state: dict) -> dict:
        return state


class DataSource(_Object):
    def read(self, ctx, config: dict) -> dict | None:
        state = self.SPEC.planned(config, outputs=None)
        self.compute(ctx.diagnostics, config, state)
        return state

    def compute(self, diags: Diagnostics, config: dict, state: dict) -> None:
        """Fill the data source's outputs."""
