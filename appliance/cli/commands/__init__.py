"""The ``coder`` commands, one module per command or command group (see ``appliance.cli.main``)."""
