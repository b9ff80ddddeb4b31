"""What every part of coder-appliance shares: settings, the typed API client, the CLIs."""

__version__ = "0.1.0"
