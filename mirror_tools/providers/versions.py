"""Terraform's provider version constraints: ``>= 2.1, < 3.0``, ``~> 2.1``, ``= 2.1.2``.

Terraform resolves provider constraints with its own rules (the go-versions
library), not PEP 440: a bare version means exactly that version, ``~>``
allows only the rightmost given component to grow, missing components are
zero, and a pre-release is only selected when a constraint names it exactly.
The manifest uses the same syntax so a template's ``required_providers`` can
be pasted into it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import total_ordering
from typing import Iterable

_VERSION = re.compile(r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$")
_CONSTRAINT = re.compile(r"^\s*(=|!=|>=|<=|>|<|~>)?\s*(\S+)\s*$")


class ConstraintError(ValueError):
    """A version or constraint string is not in Terraform's syntax."""


@total_ordering
@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: str = ""

    @classmethod
    def parse(cls, text: str) -> "Version":
        v, _ = _parse_partial(text)
        return v

    def __str__(self) -> str:
        base = f"{self.major}.{self.minor}.{self.patch}"
        return f"{base}-{self.prerelease}" if self.prerelease else base

    def _key(self):
        # Semver: a pre-release sorts before its release; identifiers compare
        # numerically when both are numbers.
        if not self.prerelease:
            return (self.major, self.minor, self.patch, 1, ())
        ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p)
                    for p in self.prerelease.split("."))
        return (self.major, self.minor, self.patch, 0, ids)

    def __lt__(self, other: "Version") -> bool:
        return self._key() < other._key()


def _parse_partial(text: str) -> tuple[Version, int]:
    """Parse a version that may omit minor/patch; return it and how many parts were given."""
    m = _VERSION.match(text.strip())
    if not m:
        raise ConstraintError(f"{text!r} is not a version number")
    given = 1 + (m.group(2) is not None) + (m.group(3) is not None)
    return Version(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0),
                   m.group(4) or ""), given


@dataclass(frozen=True)
class Constraint:
    op: str
    version: Version
    parts: int

    def allows(self, v: Version) -> bool:
        if self.op == "=":
            return v == self.version
        if self.op == "!=":
            return v != self.version
        if self.op == ">":
            return v > self.version
        if self.op == ">=":
            return v >= self.version
        if self.op == "<":
            return v < self.version
        if self.op == "<=":
            return v <= self.version
        # "~>": at least this version, and the components before the last
        # given one stay the same (~> 2.1 means < 3.0; ~> 2.1.2 means < 2.2).
        if v < self.version:
            return False
        if self.parts <= 2:
            return v.major == self.version.major
        return (v.major, v.minor) == (self.version.major, self.version.minor)


def parse_constraints(text: str) -> tuple[Constraint, ...]:
    """Parse a comma-separated constraint string; raise ConstraintError naming the bad part."""
    if not text.strip():
        raise ConstraintError("empty version constraint")
    out = []
    for part in text.split(","):
        m = _CONSTRAINT.match(part)
        if not m:
            raise ConstraintError(f"{part.strip()!r} in {text!r} is not a version constraint")
        try:
            version, parts = _parse_partial(m.group(2))
        except ConstraintError:
            raise ConstraintError(f"{part.strip()!r} in {text!r} is not a version constraint "
                                  "(expected e.g. '>= 2.1', '~> 2.1', '= 2.1.2')") from None
        out.append(Constraint(m.group(1) or "=", version, parts))
    return tuple(out)


def matching(constraints: str, available: Iterable[str]) -> list[str]:
    """The available versions (strings as the registry spells them) allowed, newest first.

    A pre-release is only allowed when a constraint names that exact version,
    as terraform does.
    """
    parsed = parse_constraints(constraints)
    exact = {c.version for c in parsed if c.op == "="}
    allowed = []
    for text in available:
        try:
            v = Version.parse(text)
        except ConstraintError:
            continue
        if v.prerelease and v not in exact:
            continue
        if all(c.allows(v) for c in parsed):
            allowed.append((v, text))
    return [text for _, text in sorted(allowed, reverse=True)]
