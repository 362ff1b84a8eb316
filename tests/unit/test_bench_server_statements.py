"""The drain's account of PostgreSQL's statements: what ran between two snapshots, per report, costliest first."""

from bench.server_statements import account

SERVICES = {"bench_x_drain_notification": "notification", "bench_x_drain_console": "console"}


def test_only_what_ran_between_the_snapshots_counts_per_report_costliest_first():
    before = {
        ("bench_x_drain_notification", 1): (10, 5.0, 5.0, "SELECT 1"),
        ("bench_x_drain_console", 2): (4, 1.0, 2.0, "INSERT INTO events"),
        ("bench_x_drain_console", 3): (7, 0.0, 9.0, "SELECT idle"),
    }
    after = {
        ("bench_x_drain_notification", 1): (30, 25.0, 15.0, "SELECT   1\n  FROM messages"),
        ("bench_x_drain_console", 2): (14, 2.0, 62.0, "INSERT INTO events"),
        ("bench_x_drain_console", 3): (7, 0.0, 9.0, "SELECT idle"),  # did not run meanwhile: left out
        ("bench_x_drain_console", 4): (10, 0.0, 1.0, "UPDATE cases"),  # new since the first snapshot
    }
    result = account(before, after, SERVICES, reports=10)
    assert [(c["service"], c["query"]) for c in result["top"]] == [
        ("console", "INSERT INTO events"),  # 0.1 + 6.0 ms a report
        ("notification", "SELECT 1 FROM messages"),  # 2.0 + 1.0
        ("console", "UPDATE cases"),  # 0.0 + 0.1
    ]
    assert result["top"][1] == {
        "service": "notification",
        "calls_per_report": 2.0,
        "plan_ms_per_report": 2.0,
        "exec_ms_per_report": 1.0,
        "query": "SELECT 1 FROM messages",
    }
    assert (result["plan_ms_per_report"], result["exec_ms_per_report"], result["statements_per_report"]) == (
        2.1,
        7.1,
        4.0,
    )


def test_a_long_query_is_cut_and_only_the_top_are_kept():
    after = {("db", n): (1, 0.0, float(n), "SELECT " + "x, " * 100) for n in range(1, 6)}
    result = account({}, after, {}, reports=1, top=2)
    assert [c["exec_ms_per_report"] for c in result["top"]] == [5.0, 4.0]
    assert result["top"][0]["service"] == "db" and len(result["top"][0]["query"]) == 160
    assert result["top"][0]["query"].endswith("…")
