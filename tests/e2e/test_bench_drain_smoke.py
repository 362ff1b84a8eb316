"""`python -m bench.drain` in its smallest form, core and `--full`: it fills a backlog with the consumers frozen,
drains it, reports each process's CPU, statements and transactions per report, and drops what it made. Its figures
are not judged here (a shared machine is too noisy); that it runs, measures every process and cleans up is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]
# The processes each mode must have measured: the core pipeline's, or the whole platform's with its mail server.
MEASURED = {
    "core": ("intake", "dispatch", "notification", "postgresql", "rabbitmq"),
    "full": ("intake", "dispatch", "notification", "console", "mail", "postgresql", "rabbitmq"),
}


@pytest.mark.parametrize("mode", ["core", "full"])
def test_a_small_drain_measures_every_process_and_drops_its_databases(pg_server, broker_uri, mode):
    assert pg_server is not None, "the drain runs on PostgreSQL, and none answers here (make test starts one)"
    env = {**os.environ, "BENCH_DATABASE_URL": pg_server, "BENCH_AMQP_URI": broker_uri}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.drain",
            "--reports",
            "40",
            "--repeat",
            "1",
            *(["--full"] if mode == "full" else []),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"round 1: intake took [\d.]+/s .* the backlog drained at [\d.]+/s", run.stdout)
    data = json.loads(Path(re.search(r"^results: (\S+)$", run.stdout, re.M).group(1)).read_text())
    (only,) = data["rounds"]
    assert only["intake"]["reports_per_s"] > 0 and only["intake"]["cpu_ms_per_report"] > 0
    cpu = only["drain"]["cpu_ms_per_report"]
    for process in MEASURED[mode]:
        assert cpu[process] > 0, process
    assert ("console" in cpu) == (mode == "full")
    for service in ("dispatch", "notification", *(["console"] if mode == "full" else [])):
        assert only["drain"]["statements_per_report"][service] > 0, service
        assert only["drain"]["transactions_per_report"][service] > 0, service
    assert data["meta"]["calibration_ms"]["start"] > 0 and data["meta"]["full"] == (mode == "full")
    assert data["reporters"] == (mode == "full")  # the core mode's reports carry no contact, as the plain pipeline's
    run_id = re.search(r"drain run (\w+):", run.stdout).group(1)
    admin = create_engine(pg_server)
    with admin.connect() as conn:
        left = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"bench_{run_id}%"})
        assert left.scalars().all() == []
    admin.dispose()
