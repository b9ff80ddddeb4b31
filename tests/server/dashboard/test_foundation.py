"""What every dashboard response carries (headers, hashed static files), the redirect rule,
a README's sanitising, and that the PyInstaller build takes the templates, static files and
the README renderer."""
from __future__ import annotations

import gzip
import re
import sys

import pytest
import requests

from server.dashboard.assets import FOLDER, Assets, hashed_name
from server.dashboard.pages import same_origin_path
from server.dashboard.readme import render

from tests.kit.browser import loopback_names
from tests.kit.dashboard import REPO


@pytest.mark.parametrize("target, expected", [
    ("/workspaces?q=owner%3Ame", "/workspaces?q=owner%3Ame"),
    ("/", "/"),
    ("//evil.example/x", "/workspaces"),
    ("/\\evil.example", "/workspaces"),
    ("/\t/evil.example", "/workspaces"),
    ("/ /evil.example", "/workspaces"),
    ("https://evil.example/", "/workspaces"),
    ("javascript:alert(1)", "/workspaces"),
    ("workspaces", "/workspaces"),
    ("", "/workspaces"),
    (None, "/workspaces"),
])
def test_only_same_origin_paths_are_redirect_targets(target, expected):
    assert same_origin_path(target) == expected


def test_hashed_names():
    assert hashed_name("vendor/htmx/htmx.min.js", "abc") == "vendor/htmx/htmx.min.abc.js"
    assert hashed_name("vendor/htmx/LICENSE", "abc") == "vendor/htmx/LICENSE.abc"
    assert hashed_name("app.css", "abc") == "app.abc.css"


def test_every_response_is_locked_down_and_assets_are_cached(site):
    coderd, owner = site
    with loopback_names():
        login = requests.get(coderd.url + "/login")
        page = requests.get(coderd.url + "/workspaces", cookies={"coder_session_token": owner.token})
        anonymous = requests.get(coderd.url + "/workspaces", allow_redirects=False)
        missing = requests.get(coderd.url + "/static/app.0000000000000000.css")
        urls = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
        assets = [requests.get(coderd.url + u) for u in urls]
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"] == "/login?redirect=%2Fworkspaces"
    assert page.status_code == 200 and len(urls) == 4  # favicon, css, htmx, the region menu
    for resp in (login, page, anonymous, missing, *assets):
        csp = resp.headers["Content-Security-Policy"]
        assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and resp.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Cache-Control"] == "no-store" and "<script>" not in page.text
    assert " style=" not in page.text
    assert missing.status_code == 404
    for resp in assets:
        assert resp.status_code == 200
        assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    htmx = next(r for u, r in zip(urls, assets) if "htmx" in u)
    assert htmx.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert htmx.content == (FOLDER / "vendor/htmx/htmx.min.js").read_bytes()


def test_text_files_are_gzipped_for_who_accepts_it(site):
    """xterm.js (the largest file served) gzipped to whoever accepts gzip, as is to anyone
    else; a cache keeps the two apart (Vary, ETags)."""
    coderd, _ = site
    body = (FOLDER / "vendor/xterm/xterm.js").read_bytes()
    url = coderd.url + Assets().by_name["vendor/xterm/xterm.js"].url
    with loopback_names():
        packed = requests.get(url, headers={"Accept-Encoding": "gzip"}, stream=True)
        wire = packed.raw.read(decode_content=False)
        plain = requests.get(url, headers={"Accept-Encoding": "identity"})
    assert packed.headers["Content-Encoding"] == "gzip" and gzip.decompress(wire) == body
    assert len(wire) < len(body) // 3
    assert "Content-Encoding" not in plain.headers and plain.content == body
    assert packed.headers["Vary"] == plain.headers["Vary"] == "Accept-Encoding"
    assert packed.headers["ETag"] != plain.headers["ETag"]


def test_the_pyinstaller_build_carries_templates_and_static_files():
    """coderd's spec takes ``server``'s data files with PyInstaller's collect_data_files."""
    from PyInstaller.utils.hooks import collect_data_files

    taken = {source.split("/server/", 1)[1] for source, _ in collect_data_files("server")}
    for needed in ("dashboard/templates/base.html", "dashboard/static/app.css",
                   "dashboard/static/vendor/htmx/htmx.min.js",
                   "dashboard/static/vendor/htmx/LICENSE", "dashboard/static/terminal.js",
                   "dashboard/static/vendor/xterm/xterm.js", "dashboard/static/vendor/xterm/LICENSE",
                   "dashboard/static/vendor/xterm-addon-fit/addon-fit.js"):
        assert needed in taken


def test_a_readme_comes_out_harmless():
    """Markdown (tables too) rendered; script, handlers, javascript: URLs, frames, forms and
    any image not on coderd itself removed (the browser test checks a README in the page)."""
    html = render("# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                  "<script>alert(1)</script><img src=x onerror=alert(1)>"
                  '<a href="JaVaScRiPt:alert(1)" onmouseover="alert(1)">x</a>'
                  "\n\n[y](javascript:alert(1)) <iframe src=/x></iframe><form action=/x><input></form>"
                  '\n\n<img src="https://evil.example/a.png">\n\n![z](//evil.example/b.png) '
                  '<svg onload=alert(1)></svg><object data=/x></object> ![ok](/static/logo.svg) '
                  '<img src="/static/b.png" alt="a &quot;b&quot; >c">')
    assert "<h1>Title</h1>" in html and "<td>2</td>" in html
    for gone in ("<script", "onerror", "onmouseover", "onload", 'href="javascript', "<iframe",
                 "<form", "<input", 'src="https://evil', 'src="//evil', "<svg", "<object", 'src="x"'):
        assert gone not in html.lower(), gone
    assert '<img src="/static/logo.svg" alt="ok">' in html
    assert '<img src="/static/b.png" alt="a &quot;b&quot; &gt;c">' in html
    # A template's front matter (Coder's example READMEs carry one) is not shown, as in Coder.
    assert render("---\ndisplay_name: Local\nicon: /icon/x.svg\n---\n\n# Local\n") == "<h1>Local</h1>\n"


def test_the_pyinstaller_build_takes_the_readme_renderer():
    """coderd's row names markdown_it and nh3 as submodules: its build takes them whole,
    nh3's compiled module with them."""
    from PyInstaller.utils.hooks import collect_submodules

    sys.path.insert(0, str(REPO / "packaging"))
    try:
        from executables import EXECUTABLES
    finally:
        sys.path.remove(str(REPO / "packaging"))
    taken = {m for package in EXECUTABLES["coderd"].submodules for m in collect_submodules(package)}
    assert {"nh3.nh3", "markdown_it.presets.commonmark", "markdown_it.rules_block.table"} <= taken
