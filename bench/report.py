"""The one table of a run: every figure, the issue's targets beside ours, and the ratios.

Written three ways from the same rows: printed (Rich), ``bench/results/<stamp>.json`` (everything,
for scripts) and ``bench/results/<stamp>.md``; a full run also rewrites ``docs/benchmarks.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench.common import Row

OURS = "taskapi"


@dataclass(frozen=True, slots=True)
class Target:
    """A target of issues 5 and 12 for some of our rows: ``value <= limit`` (``at_most``) or ``>=``;
    with ``ahead_of``, also better than that peer's row of the same metric and backend in the run."""

    text: str
    applies: Callable[[Row], bool]
    limit: float
    at_most: bool = False
    ahead_of: str = ""

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit


def _is(metric: str, backend: str | None = None, *variants: str) -> Callable[[Row], bool]:
    def applies(row: Row) -> bool:
        return (
            row.system == OURS
            and row.metric == metric
            and (backend is None or row.backend == backend)
            and (not variants or any(row.variant.startswith(v) for v in variants))
        )

    return applies


PY_PICKUP = "create() -> worker process"
HTTP_PICKUP = "HTTP POST -> serve's worker"
HTTP_CREATE = "HTTP POST /tasks, 8 clients"

TARGETS = (
    Target(">= 4,000/s", _is("drain", "postgres", "async, 1 worker"), 4000),
    Target(">= 2,500/s", _is("drain", "postgres", "def, 1 worker"), 2500),
    Target(">= 5,000/s", _is("drain", "sqlite", "async, 1 worker"), 5000),
    Target(">= 2,500/s", _is("drain", "sqlite", "def, 1 worker"), 2500),
    Target(
        "p50 <= 2 ms", _is("pickup", "sqlite", "async, " + PY_PICKUP, "def, " + PY_PICKUP), 2.0, at_most=True
    ),
    Target("p95 <= 10 ms", _is("cancel", "postgres", "def, cooperative", "async"), 10.0, at_most=True),
    Target(">= 2,500/s, ahead of PgQueuer", _is("create", "postgres", "Python"), 2500, ahead_of="pgqueuer"),
    Target(">= 2,500/s", _is("create", "sqlite", HTTP_CREATE), 2500),
    Target(">= 2,000/s", _is("create", "postgres", HTTP_CREATE), 2000),
    Target(">= 60,000/s, ahead of PgQueuer", _is("create-bulk", "postgres"), 60_000, ahead_of="pgqueuer"),
    Target(">= 2,000 req/s", _is("http", "sqlite", "HTTP list, fast path"), 2000),
    Target(">= 2,500 req/s", _is("http", "sqlite", "HTTP create, fast path"), 2500),
)


def target_of(row: Row, rows: list[Row]) -> tuple[str, bool | None]:
    """The target text beside a row and whether it is met (``None``: no target, or no figure)."""
    if row.system == OURS and row.metric == "list":
        return _list_target(row, [r for r in rows if r.metric == "list" and r.system == OURS])
    if row.system == OURS and row.metric == "pickup" and HTTP_PICKUP in row.variant:
        return _http_pickup_target(row, rows)
    if (
        row.system == OURS
        and row.metric == "pickup"
        and row.backend == "postgres"
        and PY_PICKUP in row.variant
    ):
        return _pg_pickup_target(row)
    for target in TARGETS:
        if target.applies(row):
            if row.value is None:
                return target.text, None
            met = target.met(row.value)
            if target.ahead_of:
                peer = _best(
                    r
                    for r in rows
                    if r.system == target.ahead_of and r.metric == row.metric and r.backend == row.backend
                )
                if peer is None or peer.value is None:
                    return target.text + f" ({target.ahead_of} not in this run)", None
                met = met and row.value > peer.value
                return target.text + f" (x{row.value / peer.value:.2f})", met
            return target.text, met
    return "", None


def _pg_pickup_target(row: Row) -> tuple[str, bool | None]:
    """Issue 12: PostgreSQL pickup p50 <= 2 ms, "create returns -> handler starts" (the row's figure
    is from the call, the issue's from the return: it is in ``extra``)."""
    after = row.extra.get("p50_from_return")
    if after is None:
        return "p50 <= 2 ms from the create's return", None
    return f"p50 <= 2 ms from the create's return ({after:.2f} ms)", after <= 2.0


def _http_pickup_target(row: Row, rows: list[Row]) -> tuple[str, bool | None]:
    """Issue 12: a pickup from an HTTP create within 1 ms of the Python API's (same store, handler),
    both from the create's return as the issue measures a pickup; the figures from the call (which
    add the HTTP create's own time) are in the rows."""
    kind = row.variant.split(",")[0]
    python = next(
        (
            r
            for r in rows
            if r.system == OURS
            and r.metric == "pickup"
            and r.backend == row.backend
            and r.variant == f"{kind}, {PY_PICKUP}"
        ),
        None,
    )
    if python is None or python.value is None or row.value is None:
        return "p50 within 1 ms of create()'s", None
    ours, theirs = row.extra.get("p50_from_return"), python.extra.get("p50_from_return")
    if ours is None or theirs is None:
        return "p50 within 1 ms of create()'s, from the return", None
    limit = theirs + 1.0
    return f"from the return: {ours:.2f} <= {limit:.2f} ms (create()'s + 1 ms)", ours <= limit


def _list_target(row: Row, list_rows: list[Row]) -> tuple[str, bool | None]:
    """p99 <= 10 ms at the largest size, and within 1.5x of the smallest size's figure."""
    if row.value is None or "rows" not in row.extra:  # a failed measurement's row
        return "", None
    same = [
        r
        for r in list_rows
        if r.backend == row.backend
        and "rows" in r.extra
        and r.value is not None
        and r.variant.split(" rows, ")[1:] == row.variant.split(" rows, ")[1:]
    ]
    sizes = sorted({r.extra["rows"] for r in same})
    if row.value is None or len(sizes) < 2 or row.extra["rows"] != sizes[-1]:
        return "", None
    small = next(r for r in same if r.extra["rows"] == sizes[0])
    ratio = row.value / small.value if small.value else float("inf")
    text = f"p99 <= 10 ms, <= 1.5x of {sizes[0]:,} rows (x{ratio:.2f})"
    return text, row.value <= 10 and ratio <= 1.5


# -- ratios ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ratio:
    label: str
    ours: Row | None
    other: Row | None

    @property
    def value(self) -> float | None:
        if not (self.ours and self.other and self.ours.value and self.other.value):
            return None
        return self.ours.value / self.other.value


def _best(rows: Iterable[Row], higher: bool = True) -> Row | None:
    measured = [r for r in rows if r.value is not None]
    if not measured:
        return None
    return max(measured, key=lambda r: r.value or 0) if higher else min(measured, key=lambda r: r.value or 0)


def _exact(rows: list[Row], metric: str, backend: str, variant: str) -> Row | None:
    return next((r for r in rows if (r.metric, r.backend, r.variant) == (metric, backend, variant)), None)


def ratios(rows: list[Row]) -> list[Ratio]:
    ours = [r for r in rows if r.system == OURS]
    peers = [r for r in rows if r.system not in (OURS, "raw")]
    raw = [r for r in rows if r.system == "raw"]

    def pick(
        source: list[Row], metric: str, backend: str | None = None, start: str = "", higher: bool = True
    ) -> Row | None:
        return _best(
            (
                r
                for r in source
                if r.metric == metric
                and (backend is None or r.backend == backend)
                and r.variant.startswith(start)
            ),
            higher,
        )

    out = []
    for kind in ("async", "def"):
        out.append(
            Ratio(
                f"drain {kind}, PostgreSQL 1 worker / best peer ({kind})",
                pick(ours, "drain", "postgres", f"{kind}, 1"),
                pick(peers, "drain", None, f"{kind}, 1"),
            )
        )
        out.append(
            Ratio(
                f"drain {kind}, SQLite / best SQLite peer",
                pick(ours, "drain", "sqlite", f"{kind}, 1"),
                pick(peers, "drain", "sqlite"),
            )
        )
    out += [
        Ratio(
            "create one per call, PostgreSQL / best peer",
            pick(ours, "create", "postgres", "Python"),
            pick(peers, "create"),
        ),
        Ratio(
            "bulk create, PostgreSQL / best peer",
            pick(ours, "create-bulk", "postgres", "Python"),
            pick(peers, "create-bulk"),
        ),
        Ratio(
            "pickup p50 (lower is better) / best peer",
            pick(ours, "pickup", higher=False),
            pick(peers, "pickup", higher=False),
        ),
        Ratio(
            "cancel p95 cooperative, PostgreSQL (lower is better) / best peer",
            pick(ours, "cancel", "postgres", "def, cooperative"),
            pick(peers, "cancel", higher=False),
        ),
        Ratio(
            "create one per call, PostgreSQL / raw INSERT+COMMIT",
            pick(ours, "create", "postgres", "Python"),
            pick(raw, "raw", "postgres", "INSERT+COMMIT, 1"),
        ),
        Ratio(
            "create one per call, SQLite / raw INSERT",
            pick(ours, "create", "sqlite", "Python"),
            pick(raw, "raw", "sqlite", "INSERT"),
        ),
        Ratio(
            "pickup p50 async, PostgreSQL create() (lower is better) / raw NOTIFY wake + claim",
            pick(ours, "pickup", "postgres", f"async, {PY_PICKUP}", higher=False),
            _exact(raw, "raw", "postgres", "INSERT+NOTIFY -> LISTEN wake + claim txn"),
        ),
        Ratio(
            "drain async, PostgreSQL 1 worker / raw claim txn, 1 connection",
            pick(ours, "drain", "postgres", "async, 1"),
            pick(raw, "raw", "postgres", "SKIP LOCKED claim txn, 1"),
        ),
        Ratio(
            "drain async, PostgreSQL 3 workers / raw claim txn, 4 connections",
            pick(ours, "drain", "postgres", "async, 3"),
            pick(raw, "raw", "postgres", "SKIP LOCKED claim txn, 4"),
        ),
        Ratio(
            "drain async, SQLite / raw UPDATE ... RETURNING",
            pick(ours, "drain", "sqlite", "async, 1"),
            pick(raw, "raw", "sqlite", "UPDATE"),
        ),
    ]
    return out


# -- rendering ---------------------------------------------------------------------------------------


def _figure(row: Row) -> str:
    if row.value is None:
        return "n/a"
    if row.unit.startswith("ms"):
        text = f"{row.value:,.2f}"
        if "p50" in row.extra and "p95" in row.extra and row.unit == "ms p50":
            text += f" (p95 {row.extra['p95']:,.2f})"
        elif "p50" in row.extra and row.unit in ("ms p95", "ms p99"):
            text += f" (p50 {row.extra['p50']:,.2f})"
        return text
    return f"{row.value:,.0f}" if row.value >= 100 else f"{row.value:,.1f}"


ORDER = ("raw", "http", "create", "create-bulk", "drain", "pickup", "cancel", "list", "memory")


def table_rows(rows: list[Row]) -> list[list[str]]:
    """The cells of the table: metric, system, backend, variant, figure, unit, target, met, note."""
    ordered = sorted(
        rows, key=lambda r: (ORDER.index(r.metric) if r.metric in ORDER else 99, r.system != OURS)
    )
    cells = []
    for row in ordered:
        target, met = target_of(row, rows)
        verdict = "" if met is None else ("met" if met else "NOT met")
        cells.append(
            [
                row.metric,
                row.system,
                row.backend,
                row.variant,
                _figure(row),
                row.unit,
                target,
                verdict,
                row.note,
            ]
        )
    return cells


HEADERS = ["metric", "system", "backend", "variant", "figure", "unit", "target", "", "note"]


def print_table(rows: list[Row]) -> None:
    console = Console(width=240)
    table = Table(title="taskapi vs peers vs raw limits", show_lines=False)
    for header in HEADERS:
        table.add_column(header, justify="right" if header == "figure" else "left", overflow="fold")
    for cells in table_rows(rows):
        style = "red" if cells[7] == "NOT met" else ("green" if cells[7] == "met" else None)
        table.add_row(*cells, style=style)
    console.print(table)
    ratio_table = Table(title="ratios")
    ratio_table.add_column("ratio")
    ratio_table.add_column("value", justify="right")
    ratio_table.add_column("ours")
    ratio_table.add_column("versus")
    for ratio in ratios(rows):
        ratio_table.add_row(*_ratio_cells(ratio))
    console.print(ratio_table)


def _ratio_cells(ratio: Ratio) -> list[str]:
    def name(row: Row | None) -> str:
        return (
            "-"
            if row is None or row.value is None
            else f"{row.system} {row.backend} {row.variant}: {_figure(row)}"
        )

    value = "n/a" if ratio.value is None else f"x{ratio.value:.2f}"
    return [ratio.label, value, name(ratio.ours), name(ratio.other)]


def _escape(text: str) -> str:
    return text.replace("|", "\\|")


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(h or "met?" for h in HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(_escape(c) for c in cells) + " |" for cells in table_rows(rows)]
    lines += ["", "| ratio | value | ours | versus |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(_escape(c) for c in _ratio_cells(r)) + " |" for r in ratios(rows)]
    return "\n".join(lines) + "\n"


def write_results(directory: Path, stamp: str, meta: dict[str, Any], rows: list[Row]) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    data = {
        "meta": meta,
        "rows": [r.as_dict() for r in rows],
        "ratios": [{"label": r.label, "value": r.value} for r in ratios(rows)],
    }
    json_path, md_path = directory / f"{stamp}.json", directory / f"{stamp}.md"
    json_path.write_text(json.dumps(data, indent=2) + "\n")
    md_path.write_text(markdown(rows))
    return json_path, md_path
