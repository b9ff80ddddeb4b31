"""The docs stay true to the code: every setting is documented."""
from __future__ import annotations

from pathlib import Path

from appliance.settings import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_install_guide_lists_every_setting():
    text = (DOCS / "install.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    assert not missing, f"docs/install.md does not document: {missing}"
