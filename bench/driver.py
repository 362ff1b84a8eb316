"""Open-loop load and end-to-end latency: sends at fixed times whatever the answers, then reads the sink database.

A scheduler thread releases request i at start + i/rate into a queue that a pool of sender threads drains, each
with its own keep-alive connection; nobody waits for an answer before the next send is due. A send that leaves
late (every sender busy) is recorded with its lag, which is how a saturated intake shows. Latency is the sink's
record time (`created_at` of the grid worker's assignment message) minus the moment the client sent the POST.
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import create_engine, text

from bench.stats import StepResult, percentile, summarise_step


@dataclass
class Sent:
    index: int
    sent_at: float  # epoch seconds, taken just before the request is written
    lag: float  # seconds behind its scheduled time
    status: int = 0
    report_id: str | None = None
    merged: bool = False
    error: str | None = None


class Progress:
    """A one-line progress bar on stderr (no dependency; redrawn at most 5 times a second)."""

    def __init__(self, label: str, total: int, stream=sys.stderr, width: int = 30):
        self.label, self.total, self.stream, self.width = label, max(total, 1), stream, width
        self._last = 0.0

    def update(self, done: int, note: str = "", force: bool = False) -> None:
        now = time.monotonic()
        if not self.stream.isatty() or (not force and now - self._last < 0.2):
            return  # redraws only make sense on a terminal; a log gets the final line from close()
        self._last = now
        filled = int(self.width * min(done, self.total) / self.total)
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r  {self.label:<28} [{bar}] {done:>6}/{self.total:<6} {note:<32}")
        self.stream.flush()

    def close(self, note: str = "") -> None:
        filled = "#" * self.width
        self.stream.write(f"\r  {self.label:<28} [{filled}] {self.total:>6}/{self.total:<6} {note:<32}\n")
        self.stream.flush()


class OpenLoopClient:
    """POSTs JSON bodies to one URL on a fixed schedule with `senders` threads."""

    def __init__(self, url: str, senders: int = 64, timeout: float = 30.0):
        parsed = urlparse(url)
        self.host, self.port, self.path = parsed.hostname, parsed.port, parsed.path
        self.senders = senders
        self.timeout = timeout

    def run(self, requests: list[tuple[dict, dict]], rate: float, progress: Progress | None = None) -> list[Sent]:
        jobs: queue.Queue = queue.Queue()
        results: list[Sent] = []
        lock = threading.Lock()
        threads = [
            threading.Thread(target=self._sender, args=(jobs, results, lock), daemon=True) for _ in range(self.senders)
        ]
        for thread in threads:
            thread.start()
        encoded = [(json.dumps(body, ensure_ascii=False).encode(), headers) for body, headers in requests]
        start = time.monotonic() + 0.05
        for i, (body, headers) in enumerate(encoded):
            due = start + i / rate
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            jobs.put((i, due, body, headers))
            if progress:
                progress.update(i + 1, f"{rate:g}/s offered")
        for _ in threads:
            jobs.put(None)
        for thread in threads:
            thread.join(self.timeout + 5)
        return sorted(results, key=lambda s: s.index)

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def _sender(self, jobs: queue.Queue, results: list[Sent], lock: threading.Lock) -> None:
        conn = self._connect()
        while True:
            job = jobs.get()
            if job is None:
                conn.close()
                return
            index, due, body, headers = job
            sent = Sent(index, time.time(), max(0.0, time.monotonic() - due))
            for attempt in (1, 2):
                try:
                    conn.request("POST", self.path, body, {"Content-Type": "application/json", **headers})
                    response = conn.getresponse()
                    payload = response.read()
                    sent.status = response.status
                    if response.status == 201:
                        answer = json.loads(payload)
                        sent.report_id = answer.get("report_id")
                        sent.merged = bool(answer.get("duplicate_of"))
                    else:
                        sent.error = payload[:300].decode("utf-8", "replace")
                    break
                except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                    # A keep-alive connection the server had already closed: the request never arrived.
                    conn.close()
                    conn = self._connect()
                    sent.error = repr(exc)
                    if attempt == 2:
                        break
                except (OSError, http.client.HTTPException, ValueError) as exc:
                    conn.close()
                    conn = self._connect()
                    sent.error = repr(exc)
                    break
            with lock:
                results.append(sent)


class Sink:
    """Reads when each report's end effect was recorded: `query` takes `:ids` and yields (correlation_id, time)."""

    def __init__(
        self, database_url: str, query: str, overdue_query: str | None = None, others_query: str | None = None
    ):
        self.engine = create_engine(database_url, pool_size=1, max_overflow=0)
        self.query = text(query)
        # Counts the work off the measured path that is late (a backlog the sink's query cannot see).
        self.overdue_query = text(overdue_query) if overdue_query else None
        # Takes `:ids` and yields the seconds each delivery off the measured path took (e-mail, SMS, ...).
        self.others_query = text(others_query) if others_query else None

    def other_deliveries(self, ids: list[str]) -> list[float]:
        if self.others_query is None:
            return []
        with self.engine.connect() as conn:
            return [
                float(s)
                for start in range(0, len(ids), 5000)
                for (s,) in conn.execute(self.others_query, {"ids": ids[start : start + 5000]})
            ]

    def overdue(self) -> int:
        if self.overdue_query is None:
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(self.overdue_query).scalar_one())

    def recorded(self, ids: list[str]) -> dict[str, float]:
        found: dict[str, float] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 5000):
                for correlation_id, at in conn.execute(self.query, {"ids": ids[start : start + 5000]}):
                    found[correlation_id] = at.timestamp()
        return found

    def count_per_report(self, count_query: str) -> dict[int, int]:
        """Histogram {rows per report: reports} of a GROUP BY query, to show that no report had a second effect."""
        with self.engine.connect() as conn:
            return {int(n): int(reports) for n, reports in conn.execute(text(count_query))}

    def dispose(self) -> None:
        self.engine.dispose()


# The grid worker's inbox copy of the assignment: one per report (notification's unique trigger constraint).
GRIDLINK_SINK = """
    SELECT correlation_id, min(created_at) FROM messages
    WHERE template_code = 'case_assigned' AND channel = 'inbox' AND correlation_id = ANY(:ids)
    GROUP BY correlation_id
"""
# Deliveries on the other channels (e-mail, SMS, ...) whose timer is more than OVERDUE_AFTER past due: the timer
# scanner (or the passes handed off after commit) falling behind. Retries and held messages are due later.
OVERDUE_AFTER_S = 5
# How long each of the step's other deliveries took, from the message's compose to its provider's acceptance.
GRIDLINK_OTHERS = """
    SELECT extract(epoch FROM sent_at - created_at) FROM messages
    WHERE channel <> 'inbox' AND sent_at IS NOT NULL AND correlation_id = ANY(:ids)
"""
GRIDLINK_OVERDUE = f"""
    SELECT count(*) FROM timers
    WHERE fired_at IS NULL AND kind IN ('notification_delivery', 'notification_delivery_together')
    AND due_at < now() - interval '{OVERDUE_AFTER_S} seconds'
"""


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User + system CPU seconds each process has used so far (Linux /proc), to cost a step per service."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    for name, pid in pids.items():
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115 - one short read
        except OSError:
            continue
        used[name] = (int(fields[11]) + int(fields[12])) / ticks
    return used


# The shared servers a report also costs: every process of the local PostgreSQL and RabbitMQ, by command name.
SERVERS = {"postgres": "postgresql", "beam.smp": "rabbitmq"}


# Key of the CPU the PostgreSQL server's exited backends used (its postmaster's reaped children), in a reading.
REAPED = -1


def server_cpu_seconds() -> dict[int, tuple[str, float]]:
    """Per process of the local PostgreSQL and RabbitMQ now running: (server, user + system CPU seconds so far);
    under `REAPED`, what PostgreSQL's exited backends used in all (the postmaster's children's time)."""
    ticks = os.sysconf("SC_CLK_TCK")
    used = {}
    commands = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        command = raw[raw.find("(") + 1 : raw.rfind(")")]
        if command in SERVERS:
            fields = raw.rsplit(")", 1)[1].split()
            pid = int(stat.parent.name)
            used[pid] = (SERVERS[command], (int(fields[11]) + int(fields[12])) / ticks)
            commands[pid] = (command, int(fields[1]), (int(fields[13]) + int(fields[14])) / ticks)
    for command, parent, children in commands.values():
        if command == "postgres" and commands.get(parent, ("",))[0] != "postgres":  # the postmaster
            used[REAPED] = ("postgresql", children)
    return used


def server_cpu_used(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds each server spent between two readings. A PostgreSQL backend that exited in between counts
    through the postmaster's reaped children (its whole life, less what it had used by the first reading), so a
    pool that opens and closes connections is costed too. Without the postmaster in both readings (a PostgreSQL
    elsewhere), only the processes alive at both count."""
    used = dict.fromkeys(SERVERS.values(), 0.0)
    reaped = REAPED in before and REAPED in after
    for pid, (server, seconds) in after.items():
        if pid in before or reaped:
            used[server] += seconds - before.get(pid, (server, 0.0))[1]
    for pid, (server, seconds) in before.items():
        if pid not in after and reaped and server == "postgresql":
            used[server] -= seconds  # counted in full among the reaped children
    return used


def database_counters(admin_url: str, databases: dict[str, str]) -> dict[str, tuple[int, int]]:
    """Per service's database: (commits plus rollbacks, connections opened) so far (pg_stat_database)."""
    names = {url.rsplit("/", 1)[-1].split("?")[0]: service for service, url in databases.items()}
    engine = create_engine(admin_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT datname, xact_commit + xact_rollback, sessions FROM pg_stat_database"
                    " WHERE datname = ANY(:n)"
                ),
                {"n": list(names)},
            ).all()
    finally:
        engine.dispose()
    return {names[name]: (int(xacts), int(sessions)) for name, xacts, sessions in rows}


@dataclass
class StepRun:
    result: StepResult
    ids: list[str] = field(default_factory=list)  # the reports accepted as new, to settle on before the next step
    samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds into the step, latency)
    cpu_ms_per_report: dict[str, float] = field(default_factory=dict)
    server_cpu_ms_per_report: dict[str, float] = field(default_factory=dict)  # PostgreSQL, RabbitMQ, the harness
    transactions_per_report: dict[str, float] = field(default_factory=dict)
    # Database connections each service opened per report: a pool too small for its concurrency opens and closes
    # them all the time (each a PostgreSQL backend forked, authenticated and warmed up).
    connections_per_report: dict[str, float] = field(default_factory=dict)
    # The deliveries on the other channels (e-mail, SMS, ...): how many, and their p50 and p99 in seconds.
    other_deliveries: dict[str, float] = field(default_factory=dict)


def run_step(
    client: OpenLoopClient,
    sink: Sink,
    make_request: Callable[[], tuple[dict, dict]],
    rate: float,
    duration: float,
    label: str,
    drain_timeout: float = 20.0,
    pids: dict[str, int] | None = None,
    databases: tuple[str, dict[str, str]] | None = None,
) -> StepRun:
    """Offer `rate` reports a second for `duration` seconds, wait for their effects, and judge the step.

    With `pids`, each process's CPU time over the step (sends and drain) is divided by the reports delivered; with
    `databases` (the admin URL, and each service's database URL), so are the database transactions."""
    count = max(1, round(rate * duration))
    requests = [make_request() for _ in range(count)]
    progress = Progress(label, count)
    cpu_before = cpu_seconds(pids or {})
    servers_before = server_cpu_seconds()
    harness_before = time.process_time()
    counters_before = database_counters(*databases) if databases else {}
    sent = client.run(requests, rate, progress)
    accepted = {s.report_id: s.sent_at for s in sent if s.report_id and not s.merged}
    ids = list(accepted)
    deadline = time.monotonic() + drain_timeout
    recorded: dict[str, float] = {}
    while True:
        # Only the ids still awaited: the sink's query costs PostgreSQL, whose CPU is counted as the platform's.
        recorded.update(sink.recorded([i for i in ids if i not in recorded]))
        progress.update(len(recorded), f"draining: {len(recorded)}/{len(ids)} delivered", force=True)
        if len(recorded) >= len(ids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    cpu_after = cpu_seconds(pids or {})
    servers_after = server_cpu_seconds()
    overdue = sink.overdue()
    harness_seconds = time.process_time() - harness_before
    time.sleep(0.6 if databases else 0)  # PostgreSQL publishes a backend's counters at most every 500 ms
    counters_after = database_counters(*databases) if databases else {}
    latencies = {r: max(0.0, recorded[r] - accepted[r]) for r in ids if r in recorded}
    cpu = {
        name: round((cpu_after[name] - cpu_before[name]) * 1000 / max(1, len(latencies)), 1)
        for name in cpu_after
        if name in cpu_before
    }
    result = summarise_step(
        target_rate=rate,
        duration_s=duration,
        sent_at=[s.sent_at for s in sent],
        send_lags=[s.lag for s in sent],
        latencies=latencies,
        accepted=ids,
        rejected=sum(1 for s in sent if s.report_id is None),
        merged=sum(1 for s in sent if s.merged),
        sent_at_by_id=accepted,
        overdue=overdue,
    )
    verdict = "sustained" if result.sustained else "NOT sustained: " + "; ".join(result.reasons)
    progress.close(f"p99 {result.p99 * 1000:.0f} ms" if latencies else "no deliveries")
    print(f"    {verdict}", file=sys.stderr)
    errors = [s.error for s in sent if s.report_id is None and s.error]
    if errors:
        print(f"    first error: {errors[0][:200]}", file=sys.stderr)
    t0 = min(accepted.values()) if accepted else 0.0
    samples = sorted((accepted[r] - t0, lat) for r, lat in latencies.items())
    xacts = {
        name: round((counters_after[name][0] - counters_before[name][0]) / max(1, len(latencies)), 1)
        for name in counters_after
        if name in counters_before
    }
    connections = {
        name: round((counters_after[name][1] - counters_before[name][1]) / max(1, len(latencies)), 2)
        for name in counters_after
        if name in counters_before
    }
    servers = {
        name: round(seconds * 1000 / max(1, len(latencies)), 1)
        for name, seconds in server_cpu_used(servers_before, servers_after).items()
    }
    # The load generator shares the two cores too: its senders, scheduler and the sink's polling.
    servers["bench harness"] = round(harness_seconds * 1000 / max(1, len(latencies)), 1)
    others = sink.other_deliveries(ids)
    other_deliveries = (
        {"sent": len(others), "p50": round(percentile(others, 50), 4), "p99": round(percentile(others, 99), 4)}
        if others
        else {}
    )
    return StepRun(result, ids, samples, cpu, servers, xacts, connections, other_deliveries)


def settle(sink: Sink, ids: list[str], timeout: float) -> bool:
    """Wait until every id has its effect (so the next step starts on an empty pipeline)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(sink.recorded(ids)) >= len(ids):
            return True
        time.sleep(1.0)
    return False
