"""``python -m provider``: what terraform runs (the development wrapper and the PyInstaller entry)."""
from provider.plugin import serve

if __name__ == "__main__":
    serve()
