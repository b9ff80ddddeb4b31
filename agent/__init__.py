"""coder-agent: runs inside a workspace and connects it to coderd.

Imports ``appliance`` (the SDK) but never ``server``: it ships as a small
PyInstaller executable that init scripts download from coderd's ``/bin/``.
"""
