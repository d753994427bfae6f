"""pconf's own version (one place; the package metadata and ``pconf --version`` read it)."""

__version__ = "0.1.0"
#: The distribution's name on PyPI (``pip install pconf-vllm``); the command and the import name are ``pconf``. (PyPI's
#: ``pconf`` is another project.)
DISTRIBUTION = "pconf-vllm"
