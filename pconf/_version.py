"""pconf's own version (one place; the package metadata and ``pconf --version`` read it)."""

__version__ = "0.1.0"
