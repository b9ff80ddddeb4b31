"""The shell the agent runs commands with: the user's login shell, unless it runs nothing."""
from __future__ import annotations

import pwd

import pytest

from agent import env


@pytest.mark.parametrize("login_shell, used", [
    ("/bin/bash", "/bin/bash"),
    ("/usr/sbin/nologin", "/bin/sh"),   # a service account: the local template's agents
    ("/bin/false", "/bin/sh"),
    ("", "/bin/sh"),
])
def test_the_agent_runs_the_login_shell_or_sh_for_an_account_without_one(monkeypatch, login_shell,
                                                                          used):
    real = pwd.getpwuid(0)
    monkeypatch.setattr(pwd, "getpwuid", lambda uid: pwd.struct_passwd(
        (real.pw_name, "x", uid, uid, "", "/home/x", login_shell)))
    assert env.user_shell() == used
