"""A template version's README as HTML a page may hold: Markdown rendered, then sanitised.

Anyone who may push a template writes its README, and every viewer of the template reads
it, so what comes out must be inert. markdown-it-py renders CommonMark with tables (raw
HTML in the README passes, as Coder's pages show it); nh3 (ammonia) then keeps only an
allowlist of tags and attributes: no script, style, event handler or ``javascript:``
URL survives, and an image stays only when its ``src`` is a path on coderd itself, so a
README cannot make the browser fetch from another host (the CSP would block it; it is not
even attempted). An image kept without ``alt`` gets an empty one (decorative, for screen
readers): nh3's output quotes every attribute value, which ``_IMG`` reads exactly.
"""
from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

from .pages import same_origin_path

_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table")
LINK_SCHEMES = {"http", "https", "mailto"}
DROPPED_WITH_CONTENT = {"script", "style"}
_IMG = re.compile(r'<img((?:\s+[\w:-]+="[^"]*")*)\s*/?>')
_FRONT_MATTER = re.compile(r"\A---\r?\n.*?^---[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE)


def _local_images_only(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src":
        return same_origin_path(value, default="") or None
    return value


def render(markdown: str) -> str:
    """``markdown`` as sanitised HTML (mark it safe in the template, nothing else), without
    its YAML front matter (a template's ``display_name``, ``icon``...), as Coder's page."""
    html = nh3.clean(_MARKDOWN.render(_FRONT_MATTER.sub("", markdown, count=1)),
                     url_schemes=LINK_SCHEMES,
                     clean_content_tags=DROPPED_WITH_CONTENT,
                     attribute_filter=_local_images_only)
    return _IMG.sub(_image, html)


def _image(match: re.Match) -> str:
    """A sanitised ``<img>``: gone without a (local) ``src``; with ``alt=""`` if it had none."""
    attributes = match.group(1)
    if ' src="' not in attributes:
        return ""
    return match.group(0) if ' alt="' in attributes else f'<img{attributes} alt="">'
