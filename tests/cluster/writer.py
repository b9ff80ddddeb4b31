"""A user's stream of writes through the load balancer, for the failure tests: run on the
cluster's client (``python -m tests.cluster.writer``), it creates users one after another
for SECONDS and prints one JSON line per attempt: when it ended (seconds since start),
the username, and coderd's status (0: no answer at all) with its error. A 201 is an acknowledged write.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import requests

from appliance.sdk.client import Client
from appliance.sdk.errors import APIError
from appliance.sdk.types import CreateUserRequest


def main() -> int:
    parser = argparse.ArgumentParser()
    for name in ("url", "ca", "token", "prefix"):
        parser.add_argument(name)
    parser.add_argument("seconds", type=float)
    args = parser.parse_args()
    client = Client(args.url, args.token, verify=args.ca, timeout=10)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < args.seconds:
        n += 1
        username = f"{args.prefix}{n}"
        error = ""
        try:
            client.create_user(CreateUserRequest(email=f"{username}@appliance.test",
                                                 username=username, login_type="none"))
            status = 201
        except APIError as e:
            status, error = e.status, e.message
        except requests.RequestException as e:
            status, error = 0, str(e)
        print(json.dumps({"t": round(time.monotonic() - start, 3), "user": username,
                          "status": status, "error": error}), flush=True)
        if status != 201:
            time.sleep(0.2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
