"""What each report costs when the consumers work through a backlog: `python -m bench.drain`.

The sweep (`bench.run`) offers reports at a rate and judges latency, so its CPU figures mix in how busy each step
happened to be. This measures the saturated cost directly, the figure throughput depends on:

1. start GridLink doing the plain pipeline's work (intake, dispatch, notification; inbox only, no console, reports
   without a reporter's contact), or with
   `--full` the whole platform as `make bench`'s GridLink run has it (every service, every default channel, a real
   SMTP server);
2. freeze every service but intake (SIGSTOP: their connections stay open, so the broker holds their queues);
3. post `--reports` reports to intake as fast as a few senders can (intake's own cost per report, and its rate);
4. thaw them and time how long they take to work through the backlog until every grid worker's inbox has its
   assignment, every queue is empty and (with `--full`) no delivery on another channel is left due: the drain
   rate, and per report each process's CPU (intake's too: it consumes the status events meanwhile), each
   service's SQL statements and database transactions (intake's with those of the requests).

Each process's CPU is read from /proc, PostgreSQL's and RabbitMQ's as in the sweep. Where the server has
`pg_stat_statements` loaded, the result also holds PostgreSQL's own account of the statements: planning and
execution time a report, and the costliest statements (`bench/server_statements.py`). `--repeat` runs the drain
again on the same stack, so an A/B pair can be compared on runs minutes apart.

    .venv/bin/python -m bench.drain --reports 2000 --repeat 2
    .venv/bin/python -m bench.drain --reports 1000 --full
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, create_engine, text

from bench import calibrate, driver, server_statements, workload
from bench.infra import Resources
from bench.run import CORE_ENV, CORE_REPORTERS, OUT_DIR, STATEMENTS, _git_commit, _scrape
from bench.stacks import ReplicatedStack, free_ports
from gridlink.devstack import SERVICES as ALL_SERVICES

CORE_SERVICES = ("intake", "dispatch", "notification")
# Deliveries on the other channels still waiting for their pass: the full drain is over only when none is due.
DUE_DELIVERIES = """
    SELECT count(*) FROM timers
    WHERE fired_at IS NULL AND kind IN ('notification_delivery', 'notification_delivery_together') AND due_at <= now()
"""
# Reports in flight at once while filling the backlog: enough to keep intake busy, few enough not to queue.
SENDERS = 8


def unpublished(intake_db: Engine) -> int:
    with intake_db.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL")).scalar_one())


def due_deliveries(notification_db: Engine) -> int:
    with notification_db.connect() as conn:
        return int(conn.execute(text(DUE_DELIVERIES)).scalar_one())


def frozen(stack: ReplicatedStack) -> list[str]:
    """Every service but intake: the consumers whose backlog the drain times."""
    return [name for name in stack.services if name != "intake"]


def exited(stack: ReplicatedStack) -> list[str]:
    return [name for name, process in stack.processes.items() if name in stack.services and process.poll() is not None]


def per_report(before: dict[str, float], after: dict[str, float], reports: int) -> dict[str, float]:
    return {name: round((after[name] - before.get(name, 0.0)) * 1000 / reports, 2) for name in after}


def fill(stack: ReplicatedStack, intake_db: Engine, load: workload.Workload, reports: int) -> tuple[list[str], dict]:
    """Post the reports with dispatch and notification frozen; return the accepted ids and intake's figures."""
    client = driver.OpenLoopClient(stack.url("intake", "/reports"), senders=SENDERS)
    bodies = [load.next() for _ in range(reports)]
    pids = {"intake": stack.processes["intake"].pid}
    cpu_before, started = driver.cpu_seconds(pids), time.monotonic()
    progress = driver.Progress("filling the backlog", reports)
    sent = client.run(bodies, rate=100_000, progress=progress)
    while unpublished(intake_db):
        time.sleep(0.2)
    elapsed = time.monotonic() - started
    cpu = per_report(cpu_before, driver.cpu_seconds(pids), reports)
    ids = [s.report_id for s in sent if s.report_id and not s.merged]
    refused = [s for s in sent if not s.report_id]
    if refused:
        raise RuntimeError(f"{len(refused)} reports were refused, e.g. {refused[0].status} {refused[0].error}")
    return ids, {"reports_per_s": round(len(sent) / elapsed, 1), "cpu_ms_per_report": cpu["intake"]}


@dataclass
class Counts:
    """Each service's SQL statements and database transactions so far, read before its consumers are frozen."""

    statements: dict[str, float]
    transactions: dict[str, tuple[int, int]]


def statements(stack: ReplicatedStack) -> dict[str, float]:
    return {name: _scrape(stack.url(name, "/metrics"), STATEMENTS) for name in stack.services}


def drain(
    stack: ReplicatedStack,
    res: Resources,
    sink: driver.Sink,
    ids: list[str],
    timeout: float,
    others: Engine | None,
    before: Counts,
    server: server_statements.ServerStatements,
) -> dict:
    """Thaw the consumers and time their work through the backlog of `ids` (and, given `others`, notification's
    database, until no delivery on another channel is due)."""
    # Intake too: while the others drain, it consumes what they publish about its reports (their public status).
    pids = {name: process.pid for name, process in stack.processes.items()}
    progress = driver.Progress("draining", len(ids))
    cpu_before, servers_before = driver.cpu_seconds(pids), driver.server_cpu_seconds()
    statements_before = server.snapshot()
    started = time.monotonic()
    for name in frozen(stack):
        stack.processes[name].send_signal(signal.SIGCONT)
    # Only the ids still awaited are polled: the sink's query runs every 0.1 s on PostgreSQL, whose CPU is counted
    # as the platform's, and with every id each time it cost the server about 0.6 ms a report.
    arrived: set[str] = set()
    delivered = 0
    while time.monotonic() - started < timeout:
        arrived.update(sink.recorded([i for i in ids if i not in arrived]))
        delivered = len(arrived)
        progress.update(delivered, f"{delivered}/{len(ids)} in the inboxes", force=True)
        if (
            delivered >= len(ids)
            and res.queued_messages("drain") == 0
            and (others is None or due_deliveries(others) == 0)
        ):
            break
        if exited(stack):
            raise RuntimeError(f"{', '.join(exited(stack))} exited during the drain (logs in {stack.log_dir})")
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    if delivered < len(ids):
        raise RuntimeError(f"only {delivered} of {len(ids)} assignments arrived within {timeout:.0f}s")
    cpu = per_report(cpu_before, driver.cpu_seconds(pids), len(ids))
    servers = driver.server_cpu_used(servers_before, driver.server_cpu_seconds())
    statements_after = server.snapshot()
    cpu.update({server: round(seconds * 1000 / len(ids), 2) for server, seconds in servers.items()})
    executed = statements(stack)
    # PostgreSQL publishes a backend's counts when it next idles, at most every PGSTAT_IDLE_INTERVAL (10 s).
    time.sleep(11)
    transactions = driver.database_counters(res.postgres, stack.database_urls)
    accounted = (
        {"server_statements": server_statements.account(statements_before, statements_after, server.services, len(ids))}
        if server.available
        else {}
    )
    return {
        **accounted,
        "reports_per_s": round(len(ids) / elapsed, 1),
        "seconds": round(elapsed, 2),
        "cpu_ms_per_report": cpu,
        "statements_per_report": {
            name: round((executed[name] - before.statements[name]) / len(ids), 1) for name in stack.services
        },
        "transactions_per_report": {
            name: round((transactions[name][0] - before.transactions[name][0]) / len(ids), 1) for name in transactions
        },
    }


def run(reports: int, repeat: int, extra_env: dict[str, str], full: bool = False) -> dict:
    res = Resources()
    services = ALL_SERVICES if full else CORE_SERVICES
    reporters = True if full else CORE_REPORTERS  # the full run's reports carry a contact, as residents' do
    print(f"drain run {res.run_id}: {repeat} backlog(s) of {reports} reports, {', '.join(services)}", flush=True)
    amqp = res.vhost("drain")
    stack = ReplicatedStack(
        env={
            "AMQP_URI": amqp,
            "INTAKE_RATE_PER_ADDRESS": "0",
            "GRIDLINK_VAR_DIR": str(OUT_DIR / "var" / f"{res.run_id}-drain"),
            **({} if full else CORE_ENV),
            **extra_env,
        },
        ports=dict(zip(services, free_ports(len(services)), strict=True)),
        database_urls={service: res.database(f"drain_{service}") for service in services},
        log_dir=OUT_DIR / "logs" / f"{res.run_id}-drain",
        services=services,
    )
    sink = driver.Sink(stack.database_urls["notification"], driver.GRIDLINK_SINK)
    intake_db = create_engine(stack.database_urls["intake"], pool_size=1, max_overflow=0)
    others = create_engine(stack.database_urls["notification"], pool_size=1, max_overflow=0) if full else None
    server = server_statements.ServerStatements(res.postgres, stack.database_urls)
    if not server.available:
        print("  (PostgreSQL has no pg_stat_statements loaded: see bench/server_statements.py)")
    mail_dir = OUT_DIR / "mail" / f"{res.run_id}-drain"
    rounds = []
    try:
        stack.migrate()
        if full:
            stack.start_mail_sink(free_ports(1)[0], mail_dir)
        stack.start_all()
        stack.wait_ready(services, timeout=120)
        load = workload.haibowan(seed=7, reporters=reporters)
        warm, _ = fill(stack, intake_db, load, 20)  # first requests pay for imports and pools
        driver.settle(sink, warm, 60)
        for n in range(repeat):
            time.sleep(11)  # PostgreSQL's transaction counts of the warm-up or the previous round (see `drain`)
            before = Counts(statements(stack), driver.database_counters(res.postgres, stack.database_urls))
            for name in frozen(stack):
                stack.processes[name].send_signal(signal.SIGSTOP)
            ids, intake = fill(stack, intake_db, load, reports)
            drained = drain(stack, res, sink, ids, max(120.0, reports / 5), others, before, server)
            rounds.append({"intake": intake, "drain": drained})
            print(f"  round {n + 1}: {summary(intake, drained)}", flush=True)
    finally:
        for name in frozen(stack):
            process = stack.processes.get(name)
            if process is not None:
                process.send_signal(signal.SIGCONT)
        sink.dispose()
        server.dispose()
        intake_db.dispose()
        if others is not None:
            others.dispose()
        stack.stop_all()
        shutil.rmtree(mail_dir, ignore_errors=True)
        left = res.cleanup()
        if left:
            print(f"could not drop: {', '.join(left)}", file=sys.stderr)
    # Whether the reports carried a contact: the core mode's did until 2026-12-01, so older results differ there.
    return {"rounds": rounds, "reporters": reporters}


def summary(intake: dict, drained: dict) -> str:
    cpu = drained["cpu_ms_per_report"]
    total = sum(cpu.values())
    parts = ", ".join(f"{name} {ms:.1f}" for name, ms in cpu.items())
    statements = ", ".join(f"{name} {n:g}" for name, n in drained["statements_per_report"].items() if n)
    transactions = ", ".join(f"{name} {n:g}" for name, n in drained["transactions_per_report"].items() if n)
    line = (
        f"intake took {intake['reports_per_s']}/s at {intake['cpu_ms_per_report']:.1f} ms a report; "
        f"the backlog drained at {drained['reports_per_s']}/s, CPU ms a report: {parts} (sum {total:.1f}); "
        f"SQL statements a report: {statements}; transactions: {transactions}"
    )
    server = drained.get("server_statements")
    if server:
        line += (
            f"\n    PostgreSQL's statements a report: planning {server['plan_ms_per_report']} ms, executing "
            f"{server['exec_ms_per_report']} ms; costliest (calls, planning, executing ms a report):"
        )
        for c in server["top"][:6]:
            line += (
                f"\n      {c['service']}: {c['calls_per_report']}, {c['plan_ms_per_report']}, {c['exec_ms_per_report']}"
                f"  {c['query'][:100]}"
            )
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.drain", description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=2000, help="reports in each backlog (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=2, help="backlogs drained one after another")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every service process")
    parser.add_argument("--full", action="store_true", help="the whole platform, every default channel and e-mail")
    args = parser.parse_args(argv)
    extra_env = dict(item.split("=", 1) for item in args.env)
    started = datetime.now(UTC)
    machine_before = calibrate.python_ms()
    result = run(args.reports, args.repeat, extra_env, args.full)
    machine_after = calibrate.python_ms()
    result["meta"] = {
        "started": started.isoformat(timespec="seconds"),
        "commit": _git_commit(),
        "reports": args.reports,
        "full": args.full,
        "env": extra_env,
        "calibration_ms": {"start": machine_before, "end": machine_after},
    }
    cpu = [sum(r["drain"]["cpu_ms_per_report"].values()) for r in result["rounds"]]
    rates = [r["drain"]["reports_per_s"] for r in result["rounds"]]
    print(
        f"drain: median {statistics.median(rates):g}/s, CPU {statistics.median(cpu):.1f} ms a report"
        f" (machine: {machine_before:.1f} / {machine_after:.1f} ms)"
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"drain-{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"results: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
