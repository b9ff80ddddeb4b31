"""Fixtures of the provider tests: the mirror built for the session, and terraform working
folders on it (the helpers are tests/kit/provider.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.kit.provider import Terraform, build_mirror, coder_env


@pytest.fixture(scope="session")
def mirror(tmp_path_factory) -> Path:
    return build_mirror(tmp_path_factory.mktemp("provider-mirror"), "wrapper")


@pytest.fixture(scope="session")
def tf_home(tmp_path_factory) -> Path:
    """One HOME for every run (the provider caches its TLS certificate under it)."""
    return tmp_path_factory.mktemp("home")


@pytest.fixture
def terraform(tmp_path, mirror, tf_home):
    def make(template: str, name: str = "tf", binary: str | None = None) -> Terraform:
        return Terraform(tmp_path / name, mirror, template, tf_home, binary)
    return make


@pytest.fixture(scope="module")
def blank(tmp_path_factory, mirror, tf_home) -> Terraform:
    """The blank template initialised, for tests that add a case.tf (``run_case``)."""
    tf = Terraform(tmp_path_factory.mktemp("blank") / "tf", mirror, "blank", tf_home)
    tf.init()
    return tf


@pytest.fixture(scope="module")
def applied_full(tmp_path_factory, mirror, tf_home) -> Terraform:
    """The full template applied for a start, shared by the tests that only read it."""
    tf = Terraform(tmp_path_factory.mktemp("full") / "tf", mirror, "full", tf_home)
    tf.init()
    tf.run("plan", "-input=false", env=coder_env())
    tf.apply(coder_env())
    return tf
