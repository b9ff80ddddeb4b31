"""Names coderd makes up (template versions, tokens): a made-up name another row already
has is made up again, on a real PostgreSQL's unique constraint; a given one is refused."""
from __future__ import annotations

import re

import psycopg2
import psycopg2.errors
import pytest

from server import names


@pytest.fixture
def insert(database):
    conn = psycopg2.connect(database)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE named (name text PRIMARY KEY)")
        cur.execute("INSERT INTO named VALUES ('taken')")

    def insert(name: str) -> str:
        with conn.cursor() as cur:
            cur.execute("INSERT INTO named VALUES (%s) RETURNING name", (name,))
            return cur.fetchone()[0]
    yield insert
    conn.close()


def test_a_made_up_name_already_taken_is_made_up_again(insert, monkeypatch):
    made = iter(["taken", "taken", "free"])
    monkeypatch.setattr(names, "generated_name", lambda: next(made))
    assert names.insert_named("", insert) == "free"


def test_a_given_name_already_taken_is_the_callers_conflict(insert, monkeypatch):
    asked = []
    monkeypatch.setattr(names, "generated_name", lambda: asked.append(1) or "unused")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        names.insert_named("taken", insert)
    assert asked == []


def test_made_up_names_are_tried_a_bounded_number_of_times(insert, monkeypatch):
    asked = []
    monkeypatch.setattr(names, "generated_name", lambda: asked.append(1) or "taken")
    with pytest.raises(psycopg2.errors.UniqueViolation):
        names.insert_named("", insert)
    assert len(asked) == names.ATTEMPTS


def test_made_up_names_look_like_coders():
    assert all(re.fullmatch(r"[a-z]+_[a-z]+\d{1,2}", names.generated_name())
               for _ in range(100))
