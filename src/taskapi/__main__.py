"""``python -m taskapi`` is the ``taskapi`` command."""

from taskapi.cli import main

main()
