"""The guard for the next upgrade of a library coderd (``server/adapters/``) or the
provider (``provider/tf_adapt.py``) adapts.

Each adapter module lists in ``RELIES_ON`` the library functions whose code it
assumes, with a hash of their source. An upgrade that changes one, or an override
not listed, fails here with the name to read again and the hash to record once the
adapter is checked against the new code.
"""
from __future__ import annotations

import inspect

import pytest

from provider import tf_adapt
from server import adapters
from server.adapters import gevent_pywsgi, gevent_websocket, gunicorn_worker

MODULES = [gevent_pywsgi, gevent_websocket, gunicorn_worker, tf_adapt]


def overridden(module) -> set[str]:
    """``module:Class.name`` of every library method a class of ``module`` overrides."""
    found = set()
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and cls.__module__ == module.__name__):
            continue
        for name, value in vars(cls).items():
            if not callable(getattr(value, "__func__", value)):
                continue
            base = next((b for b in cls.__mro__[1:] if name in vars(b)), None)
            if base is not None and base is not object and not base.__module__.startswith(("server.", "appliance.")):
                found.add(f"{base.__module__}:{base.__qualname__}.{name}")
    return found


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_what_an_adapter_relies_on_is_what_the_library_has(module):
    missing = sorted(overridden(module) - set(module.RELIES_ON))
    assert not missing, (f"{module.__name__} overrides {missing} without listing them in RELIES_ON: "
                         + ", ".join(f"{n!r}: {adapters.source_hash(n)!r}" for n in missing))
    changed = {name: adapters.source_hash(name) for name, pinned in module.RELIES_ON.items()
               if adapters.source_hash(name) != pinned}
    assert not changed, (f"the library under {module.__name__} changed {sorted(changed)}: read "
                         f"the adapter again against the new code, then record {changed}")
