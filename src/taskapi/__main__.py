"""``python -m taskapi`` is the ``taskapi`` command."""

from taskapi.cli import main

if __name__ == "__main__":
    main()
