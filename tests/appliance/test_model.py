"""model.dumps (orjson, on every response) writes what model.encode describes."""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import uuid

import psycopg2.tz
import pytest

from appliance.sdk import model, types


class Color(enum.Enum):
    RED = "red"


@dataclasses.dataclass
class Inner:
    when: dt.datetime
    color: Color = Color.RED


@dataclasses.dataclass
class Outer:
    id: uuid.UUID
    inners: list[Inner]
    by_id: dict[uuid.UUID, Inner]
    optional: Inner | None = None
    note: str = ""


UTC_TIMES = [
    dt.datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=dt.timezone.utc),
    dt.datetime(2026, 1, 2, 3, 4, 5),  # naive: taken as UTC
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=psycopg2.tz.FixedOffsetTimezone(0)),  # as psycopg2 gives it
]


@pytest.mark.parametrize("when", UTC_TIMES)
def test_dumps_matches_encode(when):
    key = uuid.uuid4()
    value = Outer(id=uuid.uuid4(), inners=[Inner(when), Inner(when)], by_id={key: Inner(when)},
                  note="snow ☃ \"quoted\"")
    written = json.loads(model.dumps(value))
    assert written == model.encode(value)
    assert written["inners"][0]["when"].endswith("Z")
    assert written["by_id"][str(key)]["color"] == "red"
    assert written["optional"] is None


def test_dumps_api_type_round_trips():
    user = types.User(id=uuid.uuid4(), username="ann", email="ann@example.com",
                      created_at=UTC_TIMES[0], updated_at=UTC_TIMES[0], last_seen_at=UTC_TIMES[0],
                      status="active", login_type="password", organization_ids=[uuid.uuid4()],
                      roles=[types.SlimRole(name="owner", display_name="Owner")])
    assert model.decode(types.User, json.loads(model.dumps(user))) == user


def test_dumps_refuses_what_it_cannot_write():
    with pytest.raises(TypeError):
        model.dumps({"x": object()})
