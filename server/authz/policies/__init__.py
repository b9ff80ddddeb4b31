"""Each query's policy, declared under the query's name, one module per module of
``server.db.queries`` (``users.py`` guards ``server/db/queries/users.py``).

Every module is one class body of ``name = kind(...)`` lines (the kinds are in
``server.authz.policy``): the policy of a query is found by its name, in the
module named like the query's. ``AuthzQuerier`` joins the classes, and the
accounting test (tests/server/test_authz.py) checks that each query has its
policy in its domain's class, and nothing else.
"""
