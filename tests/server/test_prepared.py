"""Reads on pooled connections run as prepared statements, and fall back when they can't."""
from __future__ import annotations

from server.db.pool import Pool
from server.db.queries import Queries


def prepared(conn) -> set[str]:
    with conn.cursor() as cur:
        cur.execute("SELECT statement FROM pg_prepared_statements")
        return {r[0] for r in cur.fetchall()}


def test_reads_are_prepared_once_per_connection(database):
    pool = Pool(database, size=1)
    conn = pool.get()
    q = Queries(conn)
    org = q.get_default_organization()
    assert q.get_default_organization() == org
    assert [s for s in prepared(conn) if "organizations" in s]
    assert len(conn.statements) == 1
    # Inside a transaction, and for writes, statements run as they are.
    with q.transaction():
        q.get_user_count()
    assert not [s for s in prepared(conn) if "count(*) FROM users" in s]
    pool.put(conn)
    pool.close()


def test_statements_that_cannot_be_prepared_still_run(database):
    pool = Pool(database, size=1)
    conn = pool.get()
    q = Queries(conn)
    # PostgreSQL cannot infer these parameters' types: PREPARE fails, the query runs plain.
    assert q._scalar("SELECT %s + %s", (1, 2)) == 3
    assert conn.statements["SELECT %s + %s"] is None
    # psycopg2 sends a list of strings as text[], which EXECUTE cannot coerce to the
    # uuid[] the statement was prepared with: it runs plain from then on.
    org = q.get_default_organization()
    sql = "SELECT name FROM organizations WHERE id = ANY(%s::uuid[])"
    assert q._all(sql, ([str(org["id"])],)) == [{"name": org["name"]}]
    assert conn.statements[sql] is None
    assert q._all(sql, ([str(org["id"])],)) == [{"name": org["name"]}]
    pool.put(conn)
    pool.close()


def test_a_statement_is_named_by_its_text(database):
    """Two connections give one text the same name, so a pooler in front of PostgreSQL
    can never run another statement under it."""
    pool = Pool(database, size=2)
    c1, c2 = pool.get(), pool.get()
    Queries(c1).get_default_organization()
    Queries(c2).get_default_organization()
    assert list(c1.statements.values()) == list(c2.statements.values())
    for c in (c1, c2):
        pool.put(c)
    pool.close()


def test_a_literal_percent_means_the_same_prepared_or_not(database):
    """psycopg2 reads ``%%`` as one ``%`` in a query with parameters; the prepared statement
    must too (splitting on ``%s`` alone kept ``%%``, and took ``%%s`` for a parameter)."""
    pool = Pool(database, size=1)
    conn = pool.get()
    q = Queries(conn)
    sql = "SELECT 'a%%b' || %s::text || '%%s' AS t, 'xyz' LIKE %s::text || '%%' AS starts"
    params = ("-", "x")
    assert q._one(sql, params) == {"t": "a%b-%s", "starts": True}
    assert conn.statements[sql] is not None  # it ran prepared
    assert q._one(sql, params) == {"t": "a%b-%s", "starts": True}  # and again, from the cache
    with conn.cursor() as cur:  # what psycopg2 itself makes of the text
        cur.execute(sql, params)
        assert cur.fetchone() == ("a%b-%s", True)
    assert q._one("SELECT '100%%' AS p", ()) == {"p": "100%"}  # no parameters: the same rule
    assert conn.statements["SELECT '100%%' AS p"] is not None
    pool.put(conn)
    pool.close()
