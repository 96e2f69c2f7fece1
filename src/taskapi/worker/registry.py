"""Handlers by task type: the ``@handler`` decorator and the modules that define handlers.

The decorator only marks a function; ``load_handlers`` imports modules by name and collects the marked
functions. A child process imports the same modules and finds the same handlers, with no global
registry and no pickled functions.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

BUILTIN_MODULES = (
    "taskapi.pipeline.builtin",
    "taskapi.pipeline.handlers.search",
    "taskapi.pipeline.handlers.dedup",
    "taskapi.pipeline.handlers.crawl",
    "taskapi.pipeline.handlers.ocr",
    "taskapi.pipeline.handlers.index",
    "taskapi.pipeline.handlers.keyword_expand",
)
DEFAULT_MAX_ATTEMPTS = 3
_MARK = "__taskapi_handler__"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class HandlerSpec:
    """A handler and its options."""

    task_type: str
    func: Callable[..., Any]
    is_async: bool
    timeout: float | None
    max_attempts: int
    module: str
    validate: Callable[[dict[str, Any]], None] | None = None


def handler(
    task_type: str,
    *,
    timeout: float | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    validate: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[F], F]:
    """Make ``func`` the handler of ``task_type`` (a module loaded later overrides an earlier one).

    ``timeout`` (seconds) fails a run that takes longer; ``max_attempts`` bounds how often a task is
    tried again after its worker was lost; ``validate(params)`` checks a task's params when it is
    created (raising ``InvalidInput`` naming the field), so bad params answer 400 instead of failing
    later. A module that overrides a type brings its own validation, or none.
    """
    if timeout is not None and timeout <= 0:
        raise ValueError("timeout must be positive")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")

    def mark(func: F) -> F:
        spec = HandlerSpec(
            task_type=task_type,
            func=func,
            is_async=inspect.iscoroutinefunction(func),
            timeout=timeout,
            max_attempts=max_attempts,
            module=func.__module__,
            validate=validate,
        )
        setattr(func, _MARK, spec)
        return func

    return mark


def load_handlers(modules: Iterable[str], *, builtin: bool = True) -> dict[str, HandlerSpec]:
    """Import the built-in pipeline, then ``modules`` in order; answer their handlers by task type."""
    found: dict[str, HandlerSpec] = {}
    for name in [*(BUILTIN_MODULES if builtin else ()), *modules]:
        module = importlib.import_module(name)
        for value in vars(module).values():
            spec = getattr(value, _MARK, None)
            if isinstance(spec, HandlerSpec) and spec.module == module.__name__:
                found[spec.task_type] = spec
    return found


def params_validators(handlers: dict[str, HandlerSpec]) -> dict[str, Callable[[dict[str, Any]], None]]:
    """The creation-time params check of each type whose handler has one."""
    return {task_type: spec.validate for task_type, spec in handlers.items() if spec.validate is not None}


def handler_modules(modules: Iterable[str], *, builtin: bool = True) -> list[str]:
    """The module names a child process must import to see the same handlers."""
    return [*(BUILTIN_MODULES if builtin else ()), *modules]
