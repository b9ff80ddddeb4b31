"""The docs stay true to the code: every setting and every installed package is documented."""
from __future__ import annotations

import re
from pathlib import Path

from appliance.settings import SETTINGS

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_install_guide_lists_every_setting():
    text = (DOCS / "install.md").read_text()
    missing = [s.env for s in SETTINGS if f"`{s.env}`" not in text]
    assert not missing, f"docs/install.md does not document: {missing}"


def test_install_guide_lists_every_package_dev_installs():
    """docs/install.md says what a fresh Debian 12 gets: every package ./dev names."""
    dev = (DOCS.parent / "dev").read_text()
    packages = []
    for array in ("RUN_PACKAGES", "TEST_PACKAGES"):
        body = re.search(rf"^{array}=\(([^)]*)\)", dev, re.M)
        assert body, f"./dev no longer defines {array}"
        packages += body.group(1).split()
    text = (DOCS / "install.md").read_text()
    missing = [p for p in packages if f"`{p}`" not in text]
    assert not missing, f"docs/install.md does not say why ./dev installs: {missing}"
