"""Entry point of ``appliance``, the administrator's command for the air gap."""
from __future__ import annotations

from typing import Sequence

from appliance.cli.base import CommandInfo, main as run_main

COMMANDS = {
    "mirror-sync": CommandInfo("appliance.admin.mirror_sync",
                               "Bring a mirror folder up to date with a manifest "
                               "(providers, terraform, images)."),
    "mirror": CommandInfo("appliance.admin.mirror", "Verify or serve a provider mirror."),
    "images": CommandInfo("appliance.admin.images", "Push an image bundle into a registry."),
    "ca": CommandInfo("appliance.admin.ca", "Run the deployment's offline certificate authority."),
}


def main(argv: Sequence[str] | None = None) -> int:
    return run_main("appliance", "Administer a coder-appliance deployment in an air-gapped network.",
                    COMMANDS, argv)


if __name__ == "__main__":
    raise SystemExit(main())
