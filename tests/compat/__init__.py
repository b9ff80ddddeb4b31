"""docs/compatibility.md: the appliance's coverage of Coder's CLI and API v2, measured.

Coder's side is recorded once as data (``coder_cli.txt``, ``coder_api.txt``, each naming
the coder/coder commits it comes from); the appliance's side is read from its own code
(the argparse trees of ``coder``, ``coderd`` and ``appliance``, and the API's ``ROUTES``).
Whether something is implemented is computed; only the reasons are written by hand
(``reasons.toml``). ``python -m tests.compat`` (``./dev compat``) rewrites the tables.
"""
