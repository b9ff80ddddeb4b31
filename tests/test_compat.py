"""docs/compatibility.md cannot drift: its tables are what tests.compat computes now from
the recorded Coder reference and the code, and every hand-written reason still holds."""
from __future__ import annotations

import argparse
import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.compat import chi_routes, generate, surface

ROOT = Path(__file__).resolve().parents[1]


def test_the_document_is_what_the_generator_writes():
    document = generate.DOC.read_text()
    assert generate.render(document, generate.build()) == document, \
        "docs/compatibility.md is out of date: run ./dev compat"


def test_the_check_command_says_so_and_rejects_bad_arguments():
    run = [sys.executable, "-m", "tests.compat"]
    ok = subprocess.run([*run, "--check"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (ok.returncode, ok.stdout) == (0, "compatibility.md is current\n")
    bad = subprocess.run([*run, "--frob"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert (bad.returncode, bad.stderr) == (2, "usage: python -m tests.compat [--check]\n")


@pytest.mark.parametrize("section, kind, key, says", [
    ("commands", "missing", "login", "'login' is implemented"),
    ("commands", "missing", "frobnicate *", "'frobnicate *' names nothing"),
    ("commands", "differs", "netcheck", "'netcheck' is not implemented"),
    ("commands", "extra", "coderd frobnicate", "'coderd frobnicate' names none"),
    ("endpoints", "missing", "GET /api/v2/buildinfo", "is implemented"),
    ("endpoints", "differs", "GET /api/v2/derp-map", "is not implemented"),
    ("endpoints", "missing", "GET /api/v2/nowhere", "names nothing"),
    ("endpoints", "extra", "GET /api/v2/nowhere", "names none"),
])
def test_a_stale_reason_fails(section, kind, key, says):
    reasons = copy.deepcopy(generate.load_reasons())
    reasons[section].setdefault(kind, {})[key] = "a reason"
    with pytest.raises(generate.StaleReasons, match=re.escape(f"{section}.{kind} ") + ".*" + re.escape(says)):
        generate.build(reasons)


def test_a_command_is_found_in_the_parsers_and_an_alias_or_group_is_not_one():
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    sub.add_parser("ssh")
    group = sub.add_parser("templates", aliases=["template"]).add_subparsers()
    group.add_parser("push")
    group.add_parser("list", aliases=["ls"])
    stat = sub.add_parser("stat")  # acts alone and has subcommands: a command, as Coder's
    stat.set_defaults(_action=print)
    stat.add_subparsers().add_parser("cpu")
    assert list(surface._leaves(parser)) == ["ssh", "templates push", "templates list", "stat",
                                             "stat cpu"]
    assert "coder templates push" in surface.commands().values()
    assert "coderd check-import" in surface.commands().values()


def test_endpoints_match_whatever_their_parameters_are_called():
    assert surface.shape("GET /api/v2/files/{fileID}") == surface.shape("GET /api/v2/files/{fileid}")
    assert "GET /api/v2/files/{}" in surface.endpoints()
    # every route's parameters in OpenAPI's braces, whatever their case (dry-run/<jobID>),
    # and the relay's app sign-in among them whatever was imported before
    assert not [e for e in surface.endpoints().values() if "<" in e]
    assert "GET /api/v2/applications/auth-redirect" in surface.endpoints()


def test_chi_routes_follow_nesting_groups_with_and_strings():
    source = '''
    r.Get("/outside", h)
    r.Route("/api/v2", func(r chi.Router) {
        r.Get("/", apiRoot) // r.Get("/commented", x)
        r.Group(func(r chi.Router) {
            r.Use(func(next http.Handler) http.Handler {
                return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("}")) })
            })
            r.Post("/login", login)
        })
        r.Route("/files/{fileID}", func(r chi.Router) {
            r.With(mw(Config{A: 1})).Get("/", file)
            /* r.Delete("/", gone) */
            r.Method("GET", "/raw", raw)
        })
        r.Put("/after", after)
    })'''
    assert chi_routes.routes(source) == [
        "GET /api/v2", "POST /api/v2/login", "GET /api/v2/files/{fileID}",
        "GET /api/v2/files/{fileID}/raw", "PUT /api/v2/after"]


def test_the_reference_is_well_formed():
    api = generate.reference(generate.HERE / "coder_api.txt")
    assert all(m in {"GET", "POST", "PUT", "PATCH", "DELETE"} and p.startswith("/api/v2")
               for m, p in api)
    kinds = {kind for kind, _ in generate.reference(generate.HERE / "coder_cli.txt")}
    assert kinds == set(generate.KIND_TITLES)
