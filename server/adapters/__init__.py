"""Other libraries, adapted where their public API does not reach: one module per library.

A module here may subclass a library's classes and override or read its private
parts, and nothing else in coderd may. Each names what it relies on in
``RELIES_ON``: the library's functions whose code the adaptation assumes, with a
hash of their source in the pinned version. ``tests/server/test_adapters.py``
fails, naming the function, when an upgrade changes one, or when a module
overrides a method it does not list: read the override again, then record the new
hash (``tests/server/test_adapters.py`` prints it). The provider's one such module,
``provider/tf_adapt.py`` (for ``tf``), has its ``RELIES_ON`` under the same test.
"""
from __future__ import annotations

import hashlib
import inspect
from importlib import import_module


def source_hash(qualified_name: str) -> str:
    """The first 16 hex digits of the SHA-256 of ``module:Class.attribute``'s source."""
    module, _, path = qualified_name.partition(":")
    obj = import_module(module)
    for part in path.split("."):
        obj = inspect.getattr_static(obj, part)
    obj = getattr(obj, "__func__", obj)  # a staticmethod's or classmethod's function
    return hashlib.sha256(inspect.getsource(obj).encode()).hexdigest()[:16]
