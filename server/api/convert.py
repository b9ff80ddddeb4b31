"""Database rows to API types, one way for every domain: ``from_row``.

An API type's field takes the row's column of the same name; a converter names
only the fields it computes (a column that needs converting, a field with no
column), so a column reaches the field of its name or nothing. Rows are dicts,
or for users named tuples (``server/db/queries/users.py`` says why); both are
read by name. A domain's converters sit beside its handlers, named for what
they make (``server/api/workspaces.py``: ``workspaces``, ``builds``); those
several domains share (users, API keys, organizations) are here. The API and
the dashboard both call them: neither builds an API type from a row itself.
"""
from __future__ import annotations

import dataclasses
import functools
import operator
from typing import Any, Callable, NamedTuple, TypeVar

from appliance.sdk import types

from ..authz.rbac import ASSIGNABLE_ROLES, MEMBER, ROLES
from ..db.queries.users import UserPageRow, UserRow

T = TypeVar("T")


def from_row(cls: type[T], row: dict | NamedTuple, **computed: Any) -> T:
    """``cls`` with each field from ``computed`` or else the row's column of its name; a
    field with neither keeps its default (none: a KeyError or TypeError, at once)."""
    if type(row) is dict:
        return cls(**{name: computed[name] if name in computed else row[name]
                      for name, required in _fields(cls)
                      if required or name in computed or name in row})
    return _by_position(cls, type(row), tuple(computed))(row + tuple(computed.values()))


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, bool], ...]:
    """Each field's name, and whether it must be given (it has no default)."""
    return tuple((f.name, f.default is dataclasses.MISSING
                  and f.default_factory is dataclasses.MISSING) for f in dataclasses.fields(cls))


@functools.cache
def _by_position(cls: type[T], row_type: type, computed: tuple[str, ...]
                 ) -> Callable[[tuple], T]:
    """``from_row`` for a named tuple, planned once per row type: the fields are matched to
    the columns by name here, and each row then fills ``cls`` by position (a class called
    with keywords gathers them into a dict and unpacks it again: docs/benchmarks.md,
    stop 11)."""
    columns = row_type._fields + computed
    positions, defaults = [], []
    for field in dataclasses.fields(cls):
        if field.name in computed:
            positions.append(len(row_type._fields) + computed.index(field.name))
        elif field.name in row_type._fields:
            positions.append(row_type._fields.index(field.name))
        elif field.default is not dataclasses.MISSING:
            positions.append(len(columns) + len(defaults))
            defaults.append(field.default)
        else:
            raise TypeError(f"{cls.__name__}.{field.name}: {row_type.__name__} has no such "
                            "column and the converter does not compute it")
    pick, rest = operator.itemgetter(*positions), tuple(defaults)
    return lambda values: cls(*pick(values + rest))


def slim_roles(names: list[str], organization_id: str = "") -> list[types.SlimRole]:
    return [types.SlimRole(name=n, display_name=ROLES[n][0] if n in ROLES else n,
                           organization_id=organization_id) for n in names]


def user(row: UserRow | UserPageRow) -> types.User:
    return from_row(types.User, row,
                    roles=slim_roles([r for r in row.rbac_roles if r in ASSIGNABLE_ROLES]))


def api_key(row: dict) -> types.APIKey:
    return from_row(types.APIKey, row)


def organization(row: dict) -> types.Organization:
    return from_row(types.Organization, row)


def organization_member(row: dict) -> types.OrganizationMemberWithUserData:
    return from_row(
        types.OrganizationMemberWithUserData, row,
        roles=slim_roles([r for r in row["roles"] if r != MEMBER], str(row["organization_id"])),
        global_roles=slim_roles([r for r in row["global_roles"] if r in ASSIGNABLE_ROLES]))
