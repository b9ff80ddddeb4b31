"""``python -m agent``: the same as the ``coder-agent`` executable."""
from agent.cli import main

raise SystemExit(main())
