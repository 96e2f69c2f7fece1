"""The params of ``index``, checked when a task is created (``validate_index``) and read by its handler:
``{"rebuild": false}`` (PIPELINE.md). Unknown keys are left alone, as for every pipeline step."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from taskapi.pipeline.params import _bool


@dataclass(frozen=True, slots=True)
class IndexParams:
    """``rebuild``: re-index every paper of the project, not only those changed since the last run."""

    rebuild: bool

    @classmethod
    def read(cls, params: Mapping[str, Any]) -> IndexParams:
        return cls(rebuild=_bool(params, "rebuild", False))


def validate_index(params: dict[str, Any]) -> None:
    IndexParams.read(params)
