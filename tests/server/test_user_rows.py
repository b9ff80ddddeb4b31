"""Rows become API types by column name (``convert.from_row``); users come from the
database as named tuples, planned once per row type and filled by position."""
from __future__ import annotations

import dataclasses

import psycopg2
import pytest

from appliance.sdk import types
from server.api import convert
from server.db.queries import Queries
from server.db.queries.users import UserPageRow, UserRow


def test_each_user_column_reaches_the_api_field_of_its_name():
    # Every column holds its own name: a field filled from the wrong position shows.
    row = UserRow._make(UserRow._fields)._replace(rbac_roles=["owner", "member"],
                                                   organization_ids=["organization_ids"])
    user = convert.user(row)
    for field in dataclasses.fields(types.User):
        value = getattr(user, field.name)
        if field.name == "roles":
            assert value == [types.SlimRole(name="owner", display_name="Owner")]
        elif field.name == "organization_ids":
            assert value == ["organization_ids"]
        else:
            assert value == field.name
    page_row = UserPageRow(*row[:-1], count=1)
    assert convert.user(page_row) == user
    assert convert.from_row(types.User, row._asdict(), roles=user.roles) == user  # a dict row


def test_a_field_takes_its_column_or_what_the_converter_computes_or_its_default():
    row = {"id": "a", "created_at": "c", "job_id": "j", "type": "t", "name": "n", "hide": False,
           "icon": "i", "daily_cost": 1, "transition": "start", "secret": "never copied"}
    made = convert.from_row(types.WorkspaceResource, row, workspace_transition="start",
                            agents=[], metadata=[], icon="computed")
    assert (made.id, made.workspace_transition, made.icon) == ("a", "start", "computed")
    assert "secret" not in vars(made)
    assert convert.from_row(types.WorkspaceAgentLogSource,
                            {"workspace_agent_id": 1, "id": 2, "created_at": 3,
                             "display_name": "d"}).icon == ""  # the field's default
    with pytest.raises(KeyError, match="agents"):  # no column, not computed: at once
        convert.from_row(types.WorkspaceResource, row, workspace_transition="start",
                         metadata=[])
    with pytest.raises(TypeError, match=r"User\.roles: UserRow has no such column"):
        convert.from_row(types.User, UserRow._make(UserRow._fields))


def test_a_row_type_must_name_the_query_columns_in_order(database):
    conn = psycopg2.connect(database)
    conn.autocommit = True
    try:
        q = Queries(conn)
        user = q.insert_user(email="rows@example.com", username="rows", name="Rows",
                             hashed_password="", rbac_roles=[], login_type="none")
        assert isinstance(user, UserRow) and user.username == "rows"
        [listed] = q.get_users(search="rows")
        assert isinstance(listed, UserPageRow)
        assert (listed.id, listed.count) == (str(user.id), 1)
        with pytest.raises(TypeError, match=r"UserRow has the fields \('id', .*the query gave \('username', 'id'\)"):
            q._one("SELECT username, id FROM users", (), UserRow)
    finally:
        conn.close()
