"""What handlers reach beyond their params (the papers library, the file store, the source clients'
settings), opened once per process and handed to them on the context.

The worker never imports what it opens: the composition root names a factory (``"module:function"``)
and gives it a configuration of plain values, which crosses into a handler's child process as it is.
The child opens its own resources after the fork (a database connection must never be shared across
processes); the worker's own process opens them with the worker's store, so they share its pool.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import Any

ResourceFactory = Callable[[Mapping[str, Any], Any], AbstractContextManager[Any]]
"""``factory(config, store)``: a context manager whose value is the handlers' resources. ``store`` is the
worker's own store in the worker's process and ``None`` in a child process (open one from ``config``)."""


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """Which factory opens the resources, and its configuration (plain, picklable values)."""

    factory: str
    config: Mapping[str, Any] = field(default_factory=dict, repr=False)  # holds the sources' API keys

    def load_factory(self) -> ResourceFactory:
        module_name, _, attribute = self.factory.partition(":")
        if not attribute:
            raise ValueError(f"a resource factory is named 'module:function', got {self.factory!r}")
        factory: ResourceFactory = getattr(importlib.import_module(module_name), attribute)
        return factory


class NoResources(RuntimeError):
    """A handler asked for resources, but this worker was started without any."""


class ProcessResources:
    """This process's resources: opened on first use (by any thread), closed once by ``close()``."""

    def __init__(self, spec: ResourceSpec | None, store: Any = None) -> None:
        self._spec = spec
        self._store = store
        self._lock = threading.Lock()
        self._stack: ExitStack | None = None
        self._value: Any = None

    def get(self) -> Any:
        if self._spec is None:
            raise NoResources("this worker has no handler resources configured")
        with self._lock:
            if self._stack is None:
                stack = ExitStack()
                self._value = stack.enter_context(self._spec.load_factory()(self._spec.config, self._store))
                self._stack = stack
            return self._value

    def close(self) -> None:
        with self._lock:
            stack, self._stack, self._value = self._stack, None, None
        if stack is not None:
            stack.close()
