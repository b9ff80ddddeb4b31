"""Where PyPI's ``tf`` (1.2.0) falls short of what terraform sends or costs, adapted once.

``install()`` is called before the provider serves; ``tests/provider/test_tf_adapt.py``
fails when the pinned ``tf``'s internals these lean on change.

- Unknown values: ``tf`` decodes only msgpack extension 0 as unknown and hands
  any other extension to the provider as an ``ExtType``. Terraform 1.6 and
  later send an unknown that carries facts (not null, a string prefix, number
  bounds, a collection length) as extension 12, e.g. ``lower(each.key)``
  during ``terraform validate``. Like cty's own decoder, every extension is
  read as ``Unknown`` here, where values are decoded, so no check or plan
  ever sees the facts, and a refined unknown is checked once it is known.
- Start-up: ``tf``'s server certificate is valid 7 days and cached under
  ``~/.cache``; while the cache is younger than ``CERT_FRESH_SECONDS`` it is
  read without importing ``cryptography`` (a third of the start-up time).
"""
from __future__ import annotations

from typing import Any

from tf.types import Unknown

CERT_FRESH_SECONDS = 6 * 86400


def decode_extension(code: int, data: bytes) -> Any:
    """msgpack ``ext_hook``: terraform's only extensions are unknown values (0 plain, 12 refined)."""
    return Unknown


def cached_certificate(generate):
    """tf's ``_self_signed_cert``, reading a fresh cache without cryptography."""
    import base64
    import json
    import time

    import grpc
    from tf.runner import _get_cert_cache_path

    path = _get_cert_cache_path()
    try:
        if time.time() - path.stat().st_mtime < CERT_FRESH_SECONDS:
            cached = json.loads(path.read_text())
            pair = (cached["key_pem"].encode(), cached["cert_pem"].encode())
            return (base64.b64decode(cached["cert_chain"]),
                    grpc.ssl_server_credentials([pair], require_client_auth=False))
    except (OSError, ValueError, KeyError):
        pass
    return generate()


def install() -> None:
    """Adapt ``tf`` in place: every ``read_dynamic_value`` call looks its hook up at call time."""
    import tf.runner
    import tf.utils

    tf.utils._msgpack_ext_hook = decode_extension
    generate = tf.runner._self_signed_cert
    tf.runner._self_signed_cert = lambda: cached_certificate(generate)
