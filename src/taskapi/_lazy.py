"""Names a package imports on first use (PEP 562), so that importing one of its modules does not
load every module its ``__init__`` names (``taskapi`` and ``taskapi.papers``: the HTTP client imports
a few records from under them and must not load the server)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, homes: Mapping[str, str], namespace: dict[str, Any]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` imported from the module ``homes[name]`` on
    first use and kept in ``namespace`` (the package's globals) for the next."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    return __getattr__
