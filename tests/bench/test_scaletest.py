"""bench/scaletest.py's placement of agents and users on the replicas, without servers: the
figures per replica and across replicas mean what its report says only if this holds."""
from __future__ import annotations

import argparse
import collections

import pytest

from bench.scaletest import replica_of, users_plan


def fleet(agents: int, users: int) -> list[dict]:
    """What create_fleet returns for the users: workspace ``i`` owned by user ``i % M``."""
    out = [{"username": f"u{j}", "workspaces": []} for j in range(users)]
    for i in range(agents):
        out[i % users]["workspaces"].append({"agent_id": f"agent{i}", "index": i})
    return out


def options(agents: int, users: int) -> argparse.Namespace:
    return argparse.Namespace(agents=agents, users=users, duration=1.0, api_interval=1.0,
                              tick=0.1, bytes_per_tick=4096, echo_port=1)


def held_by(agent_id: str, args) -> str:
    return ["http://a", "http://b"][replica_of(int(agent_id.removeprefix("agent")), args, 2)]


@pytest.mark.parametrize("agents,users", [(20, 4), (9, 3), (2000, 100), (7, 7), (4, 2)])
def test_agents_spread_and_half_the_streams_cross(agents, users):
    args = options(agents, users)
    held = collections.Counter(replica_of(i, args, 2) for i in range(agents))
    assert abs(held[0] - held[1]) <= 1, held
    users_ = fleet(agents, users)
    plan = users_plan(users_, ["http://a", "http://b"], args)
    assert [u["url"] for u in plan["users"]][:2] == ["http://a", "http://b"]
    owned = {u["username"]: {w["agent_id"] for w in u["workspaces"]} for u in users_}
    assert all(u["stream_agent"] in owned[u["username"]] for u in plan["users"])
    # Users with two workspaces or more: about half stream across the replicas, from both.
    if agents >= 2 * users:
        assert abs(plan["across"] - users / 2) <= 1 and plan["across"] >= 1
        crossing = [u["url"] for u in plan["users"] if held_by(u["stream_agent"], args) != u["url"]]
        assert set(crossing) == ({"http://a", "http://b"} if users >= 3 else {"http://b"})
    else:
        assert plan["across"] == 0
    single = users_plan(users_, ["http://a"], args)
    assert single["across"] == 0 and {u["url"] for u in single["users"]} == {"http://a"}
