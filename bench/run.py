"""`make bench`: the ceilings, then GridLink, the plain nameko pipeline and GridLink scaled out, each swept over
open-loop rates on PostgreSQL and a private RabbitMQ vhost; prints the table and ratios, writes JSON and a PNG.

    .venv/bin/python -m bench.run                      # the full run (about 40 minutes)
    .venv/bin/python -m bench.run --quick              # a smoke run: two short rates, GridLink only
    .venv/bin/python -m bench.run --rates 50,100 --duration 5 --only gridlink --env MAX_WORKERS=20
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import urllib.request
import zlib
from datetime import UTC, datetime

from bench import calibrate, ceilings, driver, plain, profile, report, targets, workload
from bench.infra import Resources
from bench.stacks import PlainStack, ReplicatedStack, free_ports
from bench.stats import highest_sustained
from gridlink.devstack import SERVICES
from gridlink.runtime.config import REPO_ROOT

OUT_DIR = REPO_ROOT / "var" / "bench"
# Low rates first: the sweep stops at the first rate that builds a backlog, so it finds the knee of each pipeline.
# Doubling at first, then in steps of 5–10/s where the full pipeline's knee (70–90/s on this machine) lies, and of
# 25/s where the core run's and the plain pipeline's (150–300/s) lie, so that a gain of a tenth shows in the table
# rather than between two steps far apart.
DEFAULT_RATES = (2, 5, 10, 20, 30, 40, 45, 50, 60, 70, 80, 90, 100, 110, 120, 150, 175, 200, 225, 250, 275, 300, 450)
PIPELINES = ("ceilings", "gridlink", "plain", "core", "scaleout")
# "core": GridLink doing what the plain pipeline does (the three hops, the grid worker's inbox copy), so that the
# ratio to it is the price of the guarantees alone: no console, no channel besides the inbox, and reports without a
# reporter's contact, as the plain pipeline's carry none (with one, intake publishes the contact, sealed, and
# notification consumes and stores it: an event a report and a personal-data path that the plain pipeline never
# has; before 2026-12-01 the core run had them). An anonymous report still gets its receipt in the inbox.
CORE_ENV = {"NOTIFICATION_CHANNELS": "inbox"}
CORE_WITHOUT = ("console",)
CORE_REPORTERS = False
# Set by --profile: each step's py-spy profiles go under it, one file per process and rate.
PROFILE_DIR = None
REPLICATED = ("dispatch", "notification")


def _sweep(
    label: str,
    client,
    sink,
    make_request,
    rates,
    duration: float,
    pids: dict,
    databases: tuple,
    metrics_urls: dict | None = None,
) -> list[dict]:
    """Warm up, then offer each rate in turn; stop after the first rate that builds a backlog.

    With `metrics_urls` (GridLink's processes), each step also counts SQL statements per delivered report from
    `gridlink_db_statements_total`."""
    warm = driver.run_step(client, sink, make_request, 2, 3, f"{label} warm-up", drain_timeout=60)
    driver.settle(sink, warm.ids, 60)
    steps = []
    for rate in rates:
        # The host's speed moves within a run (by half, in some): read it at every step, so a step's figures can be
        # judged against the machine they ran on rather than against the run's start and end alone.
        machine_ms = calibrate.python_ms(repeats=3)
        recorders = profile.start(pids, duration, PROFILE_DIR / label, f"{rate:g}") if PROFILE_DIR else []
        statements_before = {name: _scrape(url, STATEMENTS) for name, url in (metrics_urls or {}).items()}
        events_before = {name: _events(url) for name, url in (metrics_urls or {}).items()}
        run = driver.run_step(
            client,
            sink,
            make_request,
            rate,
            duration,
            f"{label} {rate:g}/s",
            drain_timeout=20,
            pids=pids,
            databases=databases,
        )
        delivered = max(1, len(run.samples))
        statements = {
            name: round((_scrape(metrics_urls[name], STATEMENTS) - before) / delivered, 1)
            for name, before in statements_before.items()
        }
        events = {
            name: _per_report(before, _events(metrics_urls[name]), delivered) for name, before in events_before.items()
        }
        steps.append(
            {
                **run.result.as_dict(),
                "machine_ms": machine_ms,
                "statements_per_report": statements,
                "cpu_ms_per_report": run.cpu_ms_per_report,
                "server_cpu_ms_per_report": run.server_cpu_ms_per_report,
                "transactions_per_report": run.transactions_per_report,
                "connections_per_report": run.connections_per_report,
                "other_deliveries": run.other_deliveries,
                "events_per_report": events,
                "samples": [[round(t, 3), round(lat, 4)] for t, lat in run.samples],
            }
        )
        print(f"    CPU ms per delivered report: {run.cpu_ms_per_report}", file=sys.stderr)
        print(f"    and outside the pipeline: {run.server_cpu_ms_per_report}", file=sys.stderr)
        print(f"    database transactions per delivered report: {run.transactions_per_report}", file=sys.stderr)
        print(f"    database connections opened per delivered report: {run.connections_per_report}", file=sys.stderr)
        if run.other_deliveries:
            others = run.other_deliveries
            print(
                f"    other channels' deliveries (compose to provider): {others['sent']}, "
                f"p50 {others['p50'] * 1000:.0f} ms, p99 {others['p99'] * 1000:.0f} ms",
                file=sys.stderr,
            )
        if statements:
            print(f"    SQL statements per delivered report: {statements}", file=sys.stderr)
            print("    events per delivered report (consumed / published):", file=sys.stderr)
            for name, counts in events.items():
                if counts["consumed"] or counts["published"]:
                    print(f"      {name}: {counts['consumed']} / {counts['published']}", file=sys.stderr)
        if recorders:
            profile.finish(recorders)
            print(f"    profiles: {PROFILE_DIR / label}/*-{rate:g}.txt (python -m bench.profile FILE)", file=sys.stderr)
        if not run.result.sustained:
            break
        if not driver.settle(sink, run.ids, 60):
            break
    return steps


def run_gridlink(
    res: Resources,
    label: str,
    rates,
    duration: float,
    extra_env: dict,
    replicas: bool,
    without: tuple = (),
    reporters: bool = True,
) -> dict:
    services = tuple(s for s in SERVICES if s not in without)
    amqp = res.vhost(label)
    mail_dir = OUT_DIR / "mail" / f"{res.run_id}-{label}"
    stack = ReplicatedStack(
        env={
            "AMQP_URI": amqp,
            "INTAKE_RATE_PER_ADDRESS": "0",  # the load comes from one address; intake's limiter would refuse it
            "GRIDLINK_VAR_DIR": str(OUT_DIR / "var" / f"{res.run_id}-{label}"),
            **extra_env,
        },
        ports=dict(zip(services, free_ports(len(services)), strict=True)),
        database_urls={service: res.database(f"{label}_{service}") for service in services},
        log_dir=OUT_DIR / "logs" / f"{res.run_id}-{label}",
        services=services,
    )
    sinks = []
    try:
        stack.migrate()
        # E-mail is one of notification's default channels: give it a real SMTP server, as `make run` does, so the
        # run measures deliveries rather than five failing retries per message.
        stack.start_mail_sink(free_ports(1)[0], mail_dir)
        stack.start_all()
        names = list(services)
        if replicas:
            for service, port in zip(REPLICATED, free_ports(len(REPLICATED)), strict=True):
                names.append(stack.start_replica(service, 2, port))
        stack.wait_ready(names, timeout=120)
        sink = driver.Sink(
            stack.database_urls["notification"], driver.GRIDLINK_SINK, driver.GRIDLINK_OVERDUE, driver.GRIDLINK_OTHERS
        )
        sinks.append(sink)
        # crc32, not hash(): str hashes differ between processes, and the same label should draw the same reports.
        load = workload.haibowan(seed=zlib.crc32(label.encode()) % 1000, reporters=reporters)
        client = driver.OpenLoopClient(stack.url("intake", "/reports"))
        pids = {name: process.pid for name, process in stack.processes.items()}
        metrics_urls = {name: stack.url(name, "/metrics") for name in names}
        steps = _sweep(
            label, client, sink, load.next, rates, duration, pids, (res.postgres, stack.database_urls), metrics_urls
        )
        result = {
            "steps": steps,
            "highest_sustained": _highest(steps),
            "env": extra_env,
            "processes": names,
            "without": list(without),
            "reporters": reporters,  # the core run's reports carried a contact until 2026-12-01
        }
        result["effects_per_report"] = _effects(stack)
        result["duplicates_ignored"] = {name: _scrape(stack.url(name, "/metrics"), DUPLICATES) for name in names}
        return result
    finally:
        for sink in sinks:
            sink.dispose()
        stack.stop_all()
        shutil.rmtree(mail_dir, ignore_errors=True)  # thousands of test mails; the count is in notification's rows


DUPLICATES = r'^gridlink_events_consumed_total{[^}]*outcome="duplicate"[^}]*} (\S+)$'
STATEMENTS = r"^gridlink_db_statements_total (\S+)$"


CONSUMED = r'^gridlink_events_consumed_total{event_type="([^"]*)",outcome="handled"} (\S+)$'
PUBLISHED = r'^gridlink_outbox_published_total{event_type="([^"]*)"} (\S+)$'


def _metrics(url: str) -> str | None:
    """A process's /metrics page (None if unreachable)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def _events(url: str) -> dict[str, dict[str, float]]:
    """A process's handled and published events so far, by type (empty if unreachable)."""
    text = _metrics(url) or ""
    return {
        direction: {m.group(1): float(m.group(2)) for m in re.finditer(pattern, text, re.M)}
        for direction, pattern in (("consumed", CONSUMED), ("published", PUBLISHED))
    }


def _per_report(before: dict, after: dict, delivered: int) -> dict[str, dict[str, float]]:
    """Events of each type per delivered report between two `_events` readings, the ones that moved."""
    return {
        direction: {
            kind: round((count - before[direction].get(kind, 0.0)) / delivered, 2)
            for kind, count in sorted(after[direction].items())
            if count > before[direction].get(kind, 0.0)
        }
        for direction in ("consumed", "published")
    }


def _scrape(url: str, pattern: str) -> float:
    """The sum of the samples of one metric that `pattern` matches on a process's /metrics (NaN if unreachable)."""
    text = _metrics(url)
    if text is None:
        return float("nan")
    return sum(float(m.group(1)) for m in re.finditer(pattern, text, re.M))


def _effects(stack) -> dict:
    """Rows per report in dispatch (cases) and notification (the worker's inbox copy): every report exactly once."""
    per_case = driver.Sink(stack.database_urls["dispatch"], "SELECT 1")
    per_message = driver.Sink(stack.database_urls["notification"], "SELECT 1")
    try:
        return {
            "cases_per_report": per_case.count_per_report(
                "SELECT n, count(*) FROM (SELECT count(*) AS n FROM cases GROUP BY report_id) c GROUP BY n"
            ),
            "assignment_messages_per_report": per_message.count_per_report(
                "SELECT n, count(*) FROM (SELECT count(*) AS n FROM messages WHERE template_code = 'case_assigned'"
                " AND channel = 'inbox' GROUP BY correlation_id) m GROUP BY n"
            ),
        }
    finally:
        per_case.dispose()
        per_message.dispose()


def run_plain(res: Resources, rates, duration: float, extra_env: dict) -> dict:
    amqp = res.vhost("plain")
    stack = PlainStack(
        env={"AMQP_URI": amqp, **extra_env},
        ports=dict(zip(plain.SERVICES, free_ports(len(plain.SERVICES)), strict=True)),
        database_urls={service: res.database(f"plain_{service}") for service in plain.SERVICES},
        log_dir=OUT_DIR / "logs" / f"{res.run_id}-plain",
    )
    sink = None
    try:
        stack.migrate()
        stack.start_all()
        stack.wait_ready(plain.SERVICES, timeout=120)
        sink = driver.Sink(stack.database_urls["notification"], plain.SINK_QUERY)
        load = workload.haibowan(seed=7, reporters=CORE_REPORTERS)  # the core run's reports, as its ratio assumes
        client = driver.OpenLoopClient(stack.url("intake", "/reports"))
        pids = {name: process.pid for name, process in stack.processes.items()}
        steps = _sweep("plain", client, sink, load.next, rates, duration, pids, (res.postgres, stack.database_urls))
        return {"steps": steps, "highest_sustained": _highest(steps), "env": extra_env}
    finally:
        if sink is not None:
            sink.dispose()
        stack.stop_all()


def _highest(steps: list[dict]) -> float:
    from bench.stats import StepResult

    fields = set(StepResult.__dataclass_fields__)
    return highest_sustained(
        [StepResult(**{k: v for k, v in s.items() if k in fields}) for s in steps]  # type: ignore[arg-type]
    )


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rates",
        help="comma-separated reports per second (default: %(default)s)",
        default=",".join(str(r) for r in DEFAULT_RATES),
    )
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per rate (default: %(default)s)")
    parser.add_argument("--only", default=",".join(PIPELINES), help=f"any of {','.join(PIPELINES)}")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for every service process")
    parser.add_argument(
        "--without", default="", help="services not to start, e.g. console (the read model is off the report's path)"
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 and 5/s for 4 s, GridLink only")
    parser.add_argument(
        "--profile", action="store_true", help="sample every process with py-spy during each step (bench/profile.py)"
    )
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    duration = args.duration
    only = {p.strip() for p in args.only.split(",") if p.strip()}
    if args.quick:
        rates, duration, only = [2.0, 5.0], 4.0, {"gridlink"}
    unknown = only - set(PIPELINES)
    if unknown:
        parser.error(f"unknown pipeline(s): {', '.join(sorted(unknown))}")
    extra_env = dict(item.split("=", 1) for item in args.env)
    without = tuple(s.strip() for s in args.without.split(",") if s.strip())
    if set(without) & {"intake", "dispatch", "notification"}:
        parser.error("intake, dispatch and notification are the measured path; they cannot be left out")

    started = datetime.now(UTC)
    results: dict = {
        "meta": {
            "started": started.isoformat(timespec="seconds"),
            "commit": _git_commit(),
            "cpus": os.cpu_count(),
            "load_average_at_start": os.getloadavg(),
            "rates": rates,
            "duration_s": duration,
            "env": extra_env,
            "without": list(without),
            "calibration_ms": {"start": calibrate.python_ms()},
        }
    }
    res = Resources()
    if args.profile:
        global PROFILE_DIR
        PROFILE_DIR = OUT_DIR / "profiles" / res.run_id
    print(f"bench run {res.run_id}: rates {rates} for {duration:g}s each; logs in {OUT_DIR / 'logs'}", flush=True)
    try:
        if "ceilings" in only:
            print("ceilings…", file=sys.stderr, flush=True)
            results["ceilings"] = {
                "rabbitmq": ceilings.rabbitmq(res.vhost("ceiling")),
                "postgresql": ceilings.postgresql(res.database("ceiling")),
            }
        if "gridlink" in only:
            results["gridlink"] = run_gridlink(res, "gridlink", rates, duration, extra_env, False, without)
        if "plain" in only:
            results["plain"] = run_plain(res, rates, duration, extra_env)
        if "core" in only:
            core_without = tuple(dict.fromkeys((*without, *CORE_WITHOUT)))
            core_env = {**extra_env, **CORE_ENV}
            results["core"] = run_gridlink(
                res, "core", rates, duration, core_env, False, core_without, reporters=CORE_REPORTERS
            )
        if "scaleout" in only:
            results["scaleout"] = run_gridlink(res, "scaleout", rates, duration, extra_env, True, without)
    except KeyboardInterrupt:
        print("\ninterrupted; cleaning up", file=sys.stderr)
        return 130
    finally:
        left = res.cleanup()
        if left:
            print(f"could not remove: {', '.join(left)}", file=sys.stderr)
    results["meta"]["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["meta"]["calibration_ms"]["end"] = calibrate.python_ms()
    results["ratios"] = report.ratios(results)
    results["targets"] = [verdict.as_dict() for verdict in targets.judge(results)]

    print()
    for key, name in report.NAMES.items():
        if key in results:
            print(report.table(name, results[key]["steps"]))
            print(f"  highest rate sustained without a growing backlog: {results[key]['highest_sustained']:g}/s")
            if "effects_per_report" in results[key]:
                print(f"  effects per report {{rows: reports}}: {results[key]['effects_per_report']}")
                print(f"  redeliveries absorbed by the inbox, per process: {results[key]['duplicates_ignored']}")
            print()
    if "ceilings" in results:
        print(f"ceilings: {results['ceilings']}")
    print(f"machine: {report.calibration(results)}")
    for name, value in results["ratios"].items():
        print(f"  {name:<52} {value if value is not None else '—'}")
    if results["targets"]:
        print(f"\n{report.targets(results)}")
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    json_path, png_path = report.write(results, OUT_DIR, stamp)
    print(f"\nresults: {json_path}")
    print(f"plot:    {png_path or '(nothing to plot)'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
