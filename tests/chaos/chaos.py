"""The chaos run (issue 13): real ``taskapi serve`` and ``taskapi worker`` processes on a private
PostgreSQL instance or a SQLite file, loopback only, bounded in time (``--seconds``) and count
(``--max-tasks``). While clients create (single and batch), list, cancel (single and bulk) and hold
event streams, it SIGKILLs random workers, restarts ``serve`` (SIGKILL or SIGTERM) and SIGKILLs and
restarts PostgreSQL. Then it stops the faults, lets the workers drain (bounded), waits for the stream
clients to reach the log's end, and checks the invariants (``tests.chaos.checks``) against the store,
the handlers' run logs and what the clients saw. It prints the figures and exits 1 on any violation.

    .venv/bin/python -m tests.chaos.chaos --seconds 120 --store postgres
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from tests.chaos import checks
from tests.chaos.clients import STREAM_PROJECT, Canceller, Client, Creator, Journal, Lister, Streamer
from tests.chaos.procs import ChaosPostgres, ChaosSetupError, Services
from tests.helpers.polling import poll
from tests.helpers.private_postgres import postgres_missing


@dataclass
class Faults:
    """Injects one fault at a time; a restarted ``serve`` or PostgreSQL answers again before the next
    fault (a new worker starts meanwhile). Kinds come round in shuffled cycles, so even a short run
    injects each kind."""

    services: Services
    postgres: ChaosPostgres | None
    rng: random.Random
    say: Callable[[str], None]
    counts: Counter[str] = field(default_factory=Counter)
    killed_pids: list[int] = field(default_factory=list)
    serve_restart_seconds: list[float] = field(default_factory=list)
    pg_outage_seconds: list[float] = field(default_factory=list)
    _cycle: list[str] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return ["kill worker", "restart serve"] + (["kill PostgreSQL"] if self.postgres is not None else [])

    def next_kind(self) -> str:
        if not self._cycle:
            self._cycle = ["kill worker", *self.kinds()]  # workers die twice as often
            self.rng.shuffle(self._cycle)
        return self._cycle.pop()

    def each_kind_injected(self) -> bool:
        return all(self.counts[kind] for kind in self.kinds())

    def inject(self, kind: str) -> None:
        if kind == "kill worker":
            self.killed_pids.append(self.services.kill_worker(self.rng.randrange(self.services.workers)))
        elif kind == "restart serve":
            sig = signal.SIGKILL if self.counts[kind] % 2 == 0 else signal.SIGTERM
            began = time.monotonic()
            self.services.stop_serve(sig)
            self.services.start_serve()
            self.serve_restart_seconds.append(time.monotonic() - began)
        else:
            assert self.postgres is not None
            began = time.monotonic()
            self.postgres.kill()
            # The outage itself: sometimes shorter than the lease, sometimes longer, so that
            # live workers' leases expire too and their tasks are rescued under them.
            time.sleep(self.rng.uniform(0.2, 2 * self.services.lease_seconds))
            self.postgres.start()
            self.pg_outage_seconds.append(time.monotonic() - began)
        self.counts[kind] += 1
        self.say(kind)


def _unfinished(db_url: str) -> int:
    query = "SELECT count(*) FROM tasks WHERE status IN ('pending', 'running')"
    if db_url.startswith("sqlite:///"):
        with closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as conn:
            return int(conn.execute(query).fetchone()[0])
    with psycopg.connect(db_url, connect_timeout=5) as conn:
        row = conn.execute(query).fetchone()
        return int(row[0]) if row else 0


def _within(condition: Callable[[], bool], timeout: float) -> bool:
    """Whether ``condition()`` came to hold within ``timeout`` seconds."""
    return bool(poll(condition, timeout=timeout, interval=0.1))


@dataclass
class ChaosRun:
    args: argparse.Namespace
    workdir: Path
    rng: random.Random = field(init=False)
    journal: Journal = field(default_factory=Journal)
    figures: dict[str, Any] = field(default_factory=dict)
    violations: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.args.seed)
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        """A line of progress on stderr (``--verbose``), timed from the start of the run."""
        if self.args.verbose:
            print(f"[{time.monotonic() - self.started:6.1f} s] {text}", file=sys.stderr, flush=True)

    def run(self) -> None:
        postgres = None
        if self.args.store == "postgres":
            postgres = ChaosPostgres.under(self.workdir / "pg")
            postgres.init("-N")
            postgres.start()
            db_url = postgres.url
        else:
            db_url = f"sqlite:///{self.workdir / 'chaos.db'}"
        logs, runs = self.workdir / "logs", self.workdir / "runs"
        logs.mkdir()
        runs.mkdir()
        services = Services(db_url, logs, self.args.workers, self.args.concurrency, self.args.lease)
        try:
            services.start_serve()
            services.start_workers()
            self._chaos(services, postgres, db_url, runs)
        finally:
            services.stop_all()
            if postgres is not None:
                postgres.stop()

    def _clients(self, base: str, runs: Path) -> tuple[list[Client], list[Streamer], threading.Event]:
        stop, stop_streams = threading.Event(), threading.Event()
        seed = self.rng.random

        def rng() -> random.Random:
            return random.Random(seed())

        # Each creator step makes 3 tasks on average (80 % single, 20 % a batch of 2..20).
        pause = 2 * 3.0 / self.args.rate
        workers: list[Client] = [
            Creator(base, self.journal, stop, rng(), pause, runs, max_tasks=self.args.max_tasks)
            for _ in range(2)
        ]
        workers += [
            Lister(base, self.journal, stop, rng(), 0.05),
            Canceller(base, self.journal, stop, rng(), 0.1),
        ]
        streams = [
            Streamer(base, self.journal, stop_streams, rng(), 0.0, project_id=project)
            for project in (None, STREAM_PROJECT)
        ]
        self.journal.streams = [s.log for s in streams]
        return workers, streams, stop_streams

    def _chaos(self, services: Services, postgres: ChaosPostgres | None, db_url: str, runs: Path) -> None:
        workers, streams, stop_streams = self._clients(services.base_url, runs)
        for stream in streams:
            stream.start()
        if not _within(lambda: all(s.log.connects for s in streams), 30):
            raise ChaosSetupError("the stream clients could not connect")
        for worker in workers:
            worker.start()
        self.say("clients started; faults begin")
        faults = Faults(services, postgres, self.rng, self.say)
        began = time.monotonic()
        deadline = began + self.args.seconds
        # Faults start until the deadline, and until each kind has been injected once (a short run on
        # a loaded machine, whose restarts are slow, may overrun by a few faults).
        while (left := deadline - time.monotonic()) > 0 or not faults.each_kind_injected():
            time.sleep(min(max(left, 0.2), self.rng.uniform(0.5, 1.5) * self.args.fault_interval))
            if time.monotonic() < deadline or not faults.each_kind_injected():
                faults.inject(faults.next_kind())
        chaos_seconds = time.monotonic() - began
        workers[0].stop.set()  # the one stop event of every client but the streams
        for worker in workers:
            worker.join(30)
        exited = [f"worker pid {pid} exited" for pid in services.dead_workers()]
        if services.serve is None or services.serve.poll() is not None:
            exited.append("serve exited")
        self.say("faults stopped, clients stopped; draining")
        drain_began = time.monotonic()
        drained = _within(lambda: _unfinished(db_url) == 0, self.args.drain_timeout)
        drain_seconds = time.monotonic() - drain_began
        self.say(f"drained: {drained} in {drain_seconds:.1f} s; waiting for the streams")
        # Nothing changes any more: each stream must reach the log's last event of its filter. On
        # PostgreSQL a gap in the ids (a rolled-back insert, a crash) holds the feed back while it
        # may still fill, up to the service's CHANGE_SETTLE_SECONDS.
        drained_view = checks.read_store(db_url)
        caught_up = _within(lambda: all(self._caught_up(s, drained_view) for s in streams), 30)
        stop_streams.set()
        for stream in streams:
            stream.join(10)
        self.say(f"streams caught up: {caught_up}; checking")
        view = checks.read_store(db_url)
        completed_runs = checks.read_runs(runs)
        self.violations = checks.check(view, self.journal, completed_runs)
        left = checks.unfinished(view)
        self.violations["workers drained in time"] = (
            [] if drained else [f"after {drain_seconds:.0f} s: {line}" for line in left] or ["not drained"]
        )
        self.violations["no process exited by itself"] = exited
        if not caught_up:
            self.violations["stream clients missed no change"].append("a stream client never caught up")
        self._figures(view, faults, completed_runs, chaos_seconds, drain_seconds)

    @staticmethod
    def _caught_up(stream: Streamer, view: checks.StoreView) -> bool:
        wanted = [
            e.id
            for e in view.events
            if stream.project_id is None or view.tasks[e.task_id].project_id == stream.project_id
        ]
        return not wanted or stream.log.last_id >= wanted[-1]

    def _figures(
        self,
        view: checks.StoreView,
        faults: Faults,
        completed_runs: list[tuple[int, int]],
        chaos_seconds: float,
        drain_seconds: float,
    ) -> None:
        journal = self.journal
        statuses = Counter(t.status for t in view.tasks.values())
        kinds = Counter(e.kind for e in view.events)
        killed = set(faults.killed_pids)
        rescued = checks.rescued_pids(view)
        self.figures = {
            "store": self.args.store,
            "chaos seconds": round(chaos_seconds, 1),
            "tasks created (API)": len(journal.created),
            "of which in batches": journal.batches,
            "tasks in the store": len(view.tasks),
            "of which created, answer lost": len(set(view.tasks) - set(journal.created)),
            "completed / failed / cancelled": "{} / {} / {}".format(
                statuses["completed"], statuses["failed"], statuses["cancelled"]
            ),
            "pending / running after drain": f"{statuses['pending']} / {statuses['running']}",
            "drain seconds": round(drain_seconds, 1),
            "handler runs completed": len(completed_runs),
            "single cancels 200 / 400": f"{len(journal.cancelled_ok)} / {len(journal.cancel_refused)}",
            "bulk cancels (calls / tasks)": f"{journal.bulk_calls} / {journal.bulk_cancelled}",
            "lists": journal.lists,
            "timeline events": len(view.events),
            "cancelled while running": sum(
                1 for e in view.events if e.kind == "cancelled" and "running" in e.detail
            ),
            "rescued / lost events": f"{kinds['rescued']} / {kinds['lost']}",
            "rescues of workers not killed": sum(1 for pid in rescued if pid not in killed),
            "stream events (all / project)": " / ".join(str(len(log.events)) for log in journal.streams),
            "stream connects (all / project)": " / ".join(str(log.connects) for log in journal.streams),
            "stream hang-ups by the client": sum(log.hang_ups for log in journal.streams),
            "stream resets": sum(len(log.resets) for log in journal.streams),
            "answers 503": journal.answers[503],
            "requests refused or cut (serve down)": journal.refused,
            "requests timed out (20 s)": journal.timeouts,
            "workers SIGKILLed": faults.counts["kill worker"],
            "serve restarts (KILL/TERM)": faults.counts["restart serve"],
            "PostgreSQL SIGKILLed and restarted": faults.counts["kill PostgreSQL"],
            "serve restart seconds (max)": round(max(faults.serve_restart_seconds, default=0.0), 1),
            "PostgreSQL outage seconds (max)": round(max(faults.pg_outage_seconds, default=0.0), 1),
            "faults injected": sum(faults.counts.values()),
            "violations": sum(len(v) for v in self.violations.values()),
        }


def print_summary(run: ChaosRun) -> None:
    width = max(len(name) for name in [*run.figures, *run.violations])
    print(f"\nchaos run ({run.args.store}, seed {run.args.seed})")
    print("-" * (width + 14))
    for name, value in run.figures.items():
        print(f"{name:<{width}}  {value}")
    print("-" * (width + 14))
    for name, found in run.violations.items():
        print(f"{name:<{width}}  {'ok' if not found else f'{len(found)} VIOLATIONS'}")
        for line in found[:10]:
            print(f"    {line}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.chaos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="how long the faults go on (120)")
    parser.add_argument("--store", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("--rate", type=float, default=30.0, help="tasks created per second, about (30)")
    parser.add_argument("--max-tasks", type=int, default=100_000, help="no creates past this many")
    parser.add_argument("--fault-interval", type=float, default=3.0, help="seconds between faults, about (3)")
    parser.add_argument("--workers", type=int, default=3, help="taskapi worker processes (3)")
    parser.add_argument("--concurrency", type=int, default=4, help="tasks each worker runs at once (4)")
    parser.add_argument("--lease", type=float, default=3.0, help="TASKAPI_LEASE_SECONDS (3)")
    parser.add_argument(
        "--drain-timeout", type=float, default=90.0, help="seconds to wait for the drain (90)"
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures and violations here")
    parser.add_argument("--verbose", action="store_true", help="print each phase and fault on stderr")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, run logs)")
    args = parser.parse_args(argv)
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1_000_000)
    return args


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.store == "postgres" and (missing := postgres_missing()) is not None:
        print(f"chaos: cannot run on PostgreSQL: {missing}", file=sys.stderr)
        return 2
    # SIGTERM (``timeout``, CI) unwinds like Ctrl-C, so the processes and PostgreSQL are stopped.
    signal.signal(signal.SIGTERM, _terminate)
    workdir = Path(tempfile.mkdtemp(prefix=f"taskapi-chaos-{args.store}-"))
    workdir.chmod(0o711)  # PostgreSQL runs as its own user and must reach its data directory in here
    run = ChaosRun(args, workdir)
    try:
        run.run()
    except ChaosSetupError as exc:
        print(f"chaos: {exc} (logs in {workdir})", file=sys.stderr)
        return 2
    print_summary(run)
    failed = any(run.violations.values())
    if args.json is not None:
        args.json.write_text(json.dumps({"figures": run.figures, "violations": run.violations}, indent=2))
    if failed or args.keep:
        print(f"\nlogs and run logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
