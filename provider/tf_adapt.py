"""PyPI's ``tf`` (1.2.0), adapted where its public API falls short of what terraform sends
or of what the provider needs: the one module that reaches ``tf``'s private parts.

``serve`` runs the provider with the adaptations below in place. ``RELIES_ON`` lists the
``tf`` code they assume; ``tests/server/test_adapters.py`` fails, naming the function,
when that code changes in the pinned ``tf`` (see ``server/adapters/__init__.py``).

- Unknown values: ``tf`` decodes only msgpack extension 0 as unknown and hands
  any other extension to the provider as an ``ExtType``. Terraform 1.6 and
  later send an unknown that carries facts (not null, a string prefix, number
  bounds, a collection length) as extension 12, e.g. ``lower(each.key)``
  during ``terraform validate``. Like cty's own decoder, every extension is
  read as ``Unknown`` here, where values are decoded, so no check or plan
  ever sees the facts, and a refined unknown is checked once it is known.
- Start-up: ``tf``'s server certificate is valid 7 days and cached under
  ``~/.cache``; while the cache is younger than ``CERT_FRESH_SECONDS`` it is
  read without importing ``cryptography`` (docs/benchmarks.md,
  "terraform-provider-coder start-up").
- The servicer: ``tf``'s ``run_provider`` builds ``tf.provider.ProviderServicer``
  by that name; ``serve`` puts the provider's own there, a ``Servicer``, which
  offers what ``tf`` keeps private: a resource's class by its type name, and an
  attribute path as terraform takes it (``attribute_path``).
"""
from __future__ import annotations

import contextlib
from typing import Any

import tf.provider
import tf.runner
import tf.utils
from tf.types import Unknown

# What this module relies on of tf 1.2.0: the functions it replaces or calls, and those
# that look the replaced ones up by name at call time.
RELIES_ON = {
    "tf.provider:ProviderServicer._get_res_cls": "489d2db300e4db41",
    "tf.runner:_get_cert_cache_path": "845bc130c944e982",
    "tf.runner:_self_signed_cert": "20ae69fd23bb8f2a",
    "tf.runner:run_provider": "e8440316d0e73b66",
    "tf.utils:_msgpack_ext_hook": "8e32113abb419c9e",
    "tf.utils:_to_attribute_path": "a0b6635c9f7185f2",
    "tf.utils:read_dynamic_value": "9e1fe4438f79a8d2",
}
CERT_FRESH_SECONDS = 6 * 86400


class Servicer(tf.provider.ProviderServicer):
    """``tf``'s servicer, with the lookup its own methods use made public."""

    def resource_class(self, type_name: str) -> type:
        """The provider's resource class terraform names ``type_name``."""
        return self._get_res_cls(type_name)


def attribute_path(steps: list) -> Any:
    """``steps`` (attribute names; a one-element tuple for an index) as tfplugin6's path."""
    return tf.utils._to_attribute_path(steps)


def decode_extension(code: int, data: bytes) -> Any:
    """msgpack ``ext_hook``: terraform's only extensions are unknown values (0 plain, 12 refined)."""
    return Unknown


def cached_certificate(generate):
    """tf's ``_self_signed_cert``, reading a fresh cache without cryptography."""
    import base64
    import json
    import time

    import grpc

    path = tf.runner._get_cert_cache_path()
    try:
        if time.time() - path.stat().st_mtime < CERT_FRESH_SECONDS:
            cached = json.loads(path.read_text())
            pair = (cached["key_pem"].encode(), cached["cert_pem"].encode())
            return (base64.b64decode(cached["cert_chain"]),
                    grpc.ssl_server_credentials([pair], require_client_auth=False))
    except (OSError, ValueError, KeyError):
        pass
    return generate()


@contextlib.contextmanager
def adapted(servicer: type[Servicer] = Servicer):
    """``tf`` with the module's adaptations in place (each looked up at call time), as it
    was once the block ends."""
    saved = tf.utils._msgpack_ext_hook, tf.runner._self_signed_cert, tf.provider.ProviderServicer
    generate = tf.runner._self_signed_cert
    tf.utils._msgpack_ext_hook = decode_extension
    tf.runner._self_signed_cert = lambda: cached_certificate(generate)
    tf.provider.ProviderServicer = servicer
    try:
        yield
    finally:
        tf.utils._msgpack_ext_hook, tf.runner._self_signed_cert, tf.provider.ProviderServicer = saved


def serve(provider, servicer: type[Servicer], argv: list[str] | None = None) -> None:
    """Run ``provider`` as terraform starts it (go-plugin handshake on stdout), served by
    ``servicer``."""
    with adapted(servicer):
        tf.runner.run_provider(provider, argv)
