"""Entry point of ``appliance``, the administrator's command for the air gap."""
from __future__ import annotations

import logging
from typing import Sequence

from appliance import buildinfo
from appliance.cli.base import CommandInfo, main as run_main

COMMANDS = {
    "mirror-sync": CommandInfo("appliance.admin.mirror_sync",
                               "Bring a mirror folder up to date with a manifest "
                               "(providers, terraform, images)."),
    "mirror": CommandInfo("appliance.admin.mirror", "Verify or serve a provider mirror."),
    "images": CommandInfo("appliance.admin.images", "Push an image bundle into a registry."),
    "bundle": CommandInfo("appliance.admin.bundle", "Build the signed offline bundle, or verify one."),
    "ca": CommandInfo("appliance.admin.ca", "Run the deployment's offline certificate authority."),
}
# Libraries whose warnings restate, in their words, a failure the command reports
# itself in one line (urllib3's retries, python-gnupg's exit codes).
LIBRARY_LOGGERS = ("urllib3", "gnupg")


class _AsDebug(logging.Handler):
    """Passes a library's records on as debug records: shown with ``-v`` only."""

    def emit(self, record: logging.LogRecord) -> None:
        root = logging.getLogger()
        if root.isEnabledFor(logging.DEBUG):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            root.handle(record)


def _library_logs_at_debug() -> None:
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(h, _AsDebug) for h in logger.handlers):
            logger.addHandler(_AsDebug())
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    _library_logs_at_debug()
    return run_main("appliance", "Administer a coder-appliance deployment in an air-gapped network.",
                    COMMANDS, argv, version=lambda: buildinfo.program("appliance"))


if __name__ == "__main__":
    raise SystemExit(main())
