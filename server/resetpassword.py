"""``coderd reset-password USERNAME``: set a user's password straight in the database.

The recovery path for an owner locked out of every account that could change it
(Coder's ``coder server reset-password``, which reads the database URL as its
server does). It runs as coderd's user with coderd's settings and reaches the
database as coderd does (``CODER_PG_CONNECTION_URL``, else the embedded
PostgreSQL under ``CODER_CONFIG_DIR``, started for the moment if coderd is not
running). The new password is asked twice on a terminal, or read from the first
line of standard input with ``--password-stdin``, and must pass the rules the
API applies (``appliance.passwords``). The user's password sessions end, as they
do when the password is changed through the API; API tokens stay.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Iterator

from appliance import passwords, settings as settings_mod
from appliance.cli import prompt
from appliance.cli.base import CommandError

from .authz.querier import AuthzQuerier
from .authz.rbac import system
from .db.embedded import EmbeddedPostgres
from .db.pool import Pool
from .db.queries import Queries
from .security import hash_password


def new_password(from_stdin: bool) -> str:
    """The password to set: the first line of stdin, or asked twice on a terminal."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
        reason = passwords.problem(password)
        if reason:
            raise CommandError(f"the password on standard input is refused: {reason}")
        return password
    prompt.require_terminal("Asking for the new password", "--password-stdin")
    return prompt.new_password("Enter new password:")


def reset(settings: settings_mod.Settings, username: str, from_stdin: bool) -> None:
    """Set ``username``'s password (CommandError if there is no such user with a password)."""
    with _database_url(settings) as dsn:
        pool = Pool(dsn, size=1)
        try:
            with pool.connection() as conn:
                s = AuthzQuerier(Queries(conn), system("reset-password"))
                user = s.get_user_by_username(username)
                if user is None:
                    raise CommandError(f"retrieving user: no user named {username!r}")
                if user.login_type != "password":
                    raise CommandError(f"user {user.username} logs in with "
                                       f"{user.login_type!r}, not a password")
                password = new_password(from_stdin)
                with s.transaction():
                    s.update_user_hashed_password(user.id, hash_password(password))
                    s.delete_api_keys_by_user(user.id, "password")
        finally:
            pool.close()
    print(f"\nPassword has been reset for user {user.username}!")


@contextlib.contextmanager
def _database_url(settings: settings_mod.Settings) -> Iterator[str]:
    """coderd's database; its embedded PostgreSQL is reused when coderd runs, else started
    for this command alone and stopped after."""
    if settings.pg_connection_url:
        yield settings.pg_connection_url
        return
    embedded = EmbeddedPostgres(settings.config_path)
    try:
        url = embedded.running_url()
    except RuntimeError:
        url = ""
    if url:
        yield url
        return
    if not (embedded.data_dir / "PG_VERSION").is_file():  # never make a database to search
        raise CommandError(f"no coderd database in {embedded.data_dir}",
                           "give coderd's settings: --env-file, or CODER_PG_CONNECTION_URL or "
                           "CODER_CONFIG_DIR as coderd has them")
    try:
        yield embedded.start()
    finally:
        embedded.stop()
