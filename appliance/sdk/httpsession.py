"""The HTTP session every client here builds on: retries, and a CA bundle that holds.

The ``coder`` CLI's API client and the mirror tools' registry clients share it
(``mirror_tools.fetch.session`` names itself with its own User-Agent).
"""
from __future__ import annotations

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

USER_AGENT = "coder-appliance-sdk"


class _Session(requests.Session):
    """A session whose own ``verify`` (a CA bundle) wins over the environment.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override
    ``Session.verify`` (psf/requests#3829), which would silently ignore a
    ``--ca-bundle`` on machines that set those variables.
    """

    retries = 4      # what ``session`` configured: mirror_tools.fetch.download retries
    # cut-off bodies as often
    backoff = 0.5

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if verify is None and self.verify is not True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


def session(ca_bundle: str | None = None, retries: int = 4, backoff: float = 0.5,
            pool: int = 16, user_agent: str = USER_AGENT) -> requests.Session:
    """A requests session that retries idempotent requests on 5xx and resets."""
    s = _Session()
    retry = Retry(total=retries, connect=retries, read=retries, status=retries,
                  backoff_factor=backoff, status_forcelist=(500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"), raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry, pool_connections=pool, pool_maxsize=pool)
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    s.headers["User-Agent"] = user_agent
    s.retries, s.backoff = retries, backoff
    if ca_bundle:
        s.verify = ca_bundle
    return s
