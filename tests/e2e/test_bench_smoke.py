"""`make bench` as a fresh clone runs it, in its smallest form (`--quick`: GridLink at 2 and 5 reports/s for 4 s
each): it starts its own stack on its own vhost and databases, prints the table, and writes results that carry
every measure the full run reports. Its figures are not judged here (a shared machine is too noisy for that);
that it runs, measures and cleans up is."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import requests
from sqlalchemy import create_engine, text

REPO = Path(__file__).resolve().parents[2]


def test_the_quick_bench_prints_its_table_and_writes_every_measure(pg_server, broker_uri):
    # The benchmark has no SQLite fallback: without PostgreSQL it cannot run, and that is a failure, not a skip.
    assert pg_server is not None, "the benchmark runs on PostgreSQL, and none answers here (make test starts one)"
    env = {**os.environ, "BENCH_DATABASE_URL": pg_server, "BENCH_AMQP_URI": broker_uri}
    run = subprocess.run(
        [sys.executable, "-m", "bench.run", "--quick"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "highest rate sustained without a growing backlog" in run.stdout
    assert re.search(r"effects per report \{rows: reports\}: \{'cases_per_report': \{1: \d+\}", run.stdout)
    results = Path(re.search(r"^results: (\S+)$", run.stdout, re.M).group(1))
    data = json.loads(results.read_text())
    calibration = data["meta"]["calibration_ms"]  # the machine's speed, at both ends of the run
    assert calibration["start"] > 0 and calibration["end"] > 0
    assert f"machine: the fixed Python workload took {calibration['start']:g} ms at the start" in run.stdout
    assert data["gridlink"]["reporters"] is True  # the full run's reports carry a contact, as residents' do
    steps = data["gridlink"]["steps"]
    assert [s["target_rate"] for s in steps] == [2.0, 5.0]
    for step in steps:
        assert step["completed"] == step["accepted"] > 0
        assert step["overdue"] == 0
        assert step["other_deliveries"]["sent"] > 0  # e-mail and the file drop, handed off after each commit
        assert step["cpu_ms_per_report"]["notification"] > 0 and step["statements_per_report"]["intake"] > 0
        assert step["machine_ms"] > 0  # the machine's speed just before the step
    # Issue 9's targets are judged from the run itself; a quick run reaches neither 300/s nor 150/s, so the p99
    # target is unmeasured, or failed if a step backed up (a loaded machine).
    verdicts = {(v["target"], v["pipeline"]): v["met"] for v in data["targets"]}
    assert verdicts[("at least 300 reports/s sustained", "gridlink")] is False
    p99_expected = None if all(s["sustained"] for s in steps) else False
    assert verdicts[("p99 at or under 1000 ms at 150/s", "gridlink")] is p99_expected
    assert "issue 9's targets" in run.stdout
    run_id = re.search(r"bench run (\w+):", run.stdout).group(1)
    admin = create_engine(pg_server)
    with admin.connect() as conn:
        left = conn.execute(text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": f"bench_{run_id}%"})
        assert left.scalars().all() == []  # it dropped what it made
    admin.dispose()
    broker = urlparse(broker_uri)
    auth = (broker.username or "guest", broker.password or "guest")
    vhosts = requests.get(f"http://{broker.hostname}:15672/api/vhosts", auth=auth, timeout=10).json()
    assert not [v["name"] for v in vhosts if run_id in v["name"]]
