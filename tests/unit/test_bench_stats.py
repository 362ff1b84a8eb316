"""The benchmark's own arithmetic: percentiles, backlog detection, the sustained rate, and the workload's spacing."""

import math
import random

import pytest

from bench import calibrate, report
from bench.run import CORE_REPORTERS
from bench.stats import (
    GROWTH_FLOOR_S,
    backlog_grew,
    highest_sustained,
    percentile,
    quarter_medians,
    summarise_step,
)
from bench.workload import Area, Spacing, Workload, haibowan
from gridlink.refdata import load_grid_map
from gridlink.runtime.config import REPO_ROOT


def test_percentile_interpolates_between_closest_ranks():
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == pytest.approx(50.5)
    assert percentile(values, 99) == pytest.approx(99.01)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order of input does not matter


def test_percentile_of_nothing_is_nan_and_out_of_range_is_refused():
    assert math.isnan(percentile([], 99))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_quarter_medians_follow_send_order_not_input_order():
    sent = list(range(100))
    latencies = [0.01 * t for t in sent]  # latency grows with send time: a filling queue
    shuffled = list(zip(sent, latencies, strict=True))
    random.Random(1).shuffle(shuffled)
    first, last = quarter_medians([s for s, _ in shuffled], [lat for _, lat in shuffled])
    assert first == pytest.approx(0.12)
    assert last == pytest.approx(0.87)


def test_backlog_needs_growth_beyond_noise():
    assert not backlog_grew(0.05, 0.05 + GROWTH_FLOOR_S - 0.01)  # a little jitter at low latency
    assert backlog_grew(0.05, 0.05 + GROWTH_FLOOR_S + 0.01)
    assert not backlog_grew(0.8, 1.1)  # jitter on an already high latency
    assert backlog_grew(0.8, 1.3)  # up by more than half of it


def _step(rate, latency_of, n=None, lag=0.0, drop=0, rejected=0, overdue=0):
    n = n or int(rate * 10)
    sent_at = [1000.0 + i / rate for i in range(n)]
    ids = [f"r{i}" for i in range(n - rejected)]
    by_id = dict(zip(ids, sent_at, strict=False))
    latencies = {r: latency_of(i) for i, r in enumerate(ids) if i < len(ids) - drop}
    return summarise_step(rate, 10, sent_at, [lag] * n, latencies, ids, rejected, 0, by_id, overdue)


def test_a_steady_step_is_sustained_with_its_percentiles_and_throughput():
    step = _step(50, lambda i: 0.1 + (i % 10) * 0.01)
    assert step.sustained, step.reasons
    assert step.completed == 500
    assert step.p50 == pytest.approx(0.145)
    assert step.max == pytest.approx(0.19)
    assert step.offered_rate == pytest.approx(50, rel=0.01)
    assert step.throughput == pytest.approx(50, rel=0.03)


def test_growing_latency_is_a_backlog():
    step = _step(50, lambda i: 0.1 + i * 0.005)  # +2.5 s over the step
    assert not step.sustained
    assert any("latency grew" in r for r in step.reasons)


def test_late_sends_lost_deliveries_and_failed_requests_each_fail_a_step():
    assert any("behind schedule" in r for r in _step(50, lambda i: 0.1, lag=0.9).reasons)
    assert any("not delivered" in r for r in _step(50, lambda i: 0.1, drop=5).reasons)
    assert any("requests failed" in r for r in _step(50, lambda i: 0.1, rejected=3).reasons)


def test_deliveries_falling_behind_off_the_measured_path_fail_a_step_beyond_one_percent():
    assert _step(50, lambda i: 0.1, overdue=5).sustained  # 1 % of 500 reports: a retry that just came due
    late = _step(50, lambda i: 0.1, overdue=6)
    assert not late.sustained and late.reasons == ("6 other deliveries overdue at the end",)


def test_highest_sustained_stops_at_the_first_failure():
    ok = [_step(r, lambda i: 0.1) for r in (25, 50)]
    bad = _step(100, lambda i: 0.1 + i * 0.01)
    lucky = _step(150, lambda i: 0.1)
    assert highest_sustained([*ok, bad, lucky]) == 50
    assert highest_sustained([bad]) == 0


def test_workload_never_puts_two_reports_of_a_category_within_the_duplicate_radius():
    square = Area("g1", ((106.80, 39.60), (106.82, 39.60), (106.82, 39.62), (106.80, 39.62)))
    spacing = Spacing({"noise": 150.0}, 50.0)
    load = Workload([square], [("noise", "噪音"), ("garbage", "垃圾")], spacing, hotline_token="t", seed=3)
    drawn = [load.next() for _ in range(40)]
    points = {}
    for body, headers in drawn:
        assert square.contains(body["lat"], body["long"])
        assert (body["channel"] == "hotline") == ("Authorization" in headers)
        points.setdefault(body["category"], []).append((body["lat"], body["long"]))
    assert load.crowded == 0
    for category, pts in points.items():
        radius = spacing.radius(category)
        for i, (lat1, long1) in enumerate(pts):
            for lat2, long2 in pts[i + 1 :]:
                dy = (lat1 - lat2) * 111_320
                dx = (long1 - long2) * 111_320 * math.cos(math.radians(lat1))
                assert math.hypot(dx, dy) > radius


def test_ratios_keep_three_significant_figures_and_refuse_a_missing_ceiling():
    from bench.stats import ratio

    assert ratio(2, 4557.4) == 0.000439
    assert ratio(150, 200) == 0.75
    assert ratio(5, 0) is None


def test_without_the_postmasters_reading_server_cpu_counts_only_processes_alive_at_both_readings():
    from bench.driver import server_cpu_used

    before = {10: ("postgresql", 5.0), 11: ("postgresql", 2.0), 20: ("rabbitmq", 100.0)}
    # 11 exited (its seconds must not turn into a negative share); 12 started (the harness's own connection).
    after = {10: ("postgresql", 5.5), 12: ("postgresql", 0.4), 20: ("rabbitmq", 100.25)}
    assert server_cpu_used(before, after) == {"postgresql": 0.5, "rabbitmq": 0.25}


def test_the_machine_calibration_is_reported_with_each_run_and_older_runs_say_they_had_none():
    timed = calibrate.python_ms(repeats=3)
    assert timed > 0
    meta = {"started": "t", "commit": "c", "cpus": 2, "load_average_at_start": [0.5, 0.4, 0.3]}
    with_it = {"meta": {**meta, "calibration_ms": {"start": timed, "end": 31.5}}}
    assert (
        report.calibration(with_it)
        == f"the fixed Python workload took {timed:g} ms at the start, 31.5 ms at the end (lower is faster)"
    )
    assert "31.5 ms at the end" in report.markdown(with_it).splitlines()[0]
    assert report.calibration({"meta": meta}).startswith("not calibrated")


def test_the_core_run_is_set_against_the_plain_pipeline_as_the_price_of_the_guarantees_alone():
    results = {
        "gridlink": {"highest_sustained": 40.0},
        "plain": {"highest_sustained": 300.0},
        "core": {"highest_sustained": 60.0},
    }
    got = report.ratios(results)
    assert got["gridlink / plain nameko pipeline"] == 0.133
    assert got["gridlink doing the plain pipeline's work / plain"] == 0.2
    without_core = {k: v for k, v in results.items() if k != "core"}
    assert "gridlink doing the plain pipeline's work / plain" not in report.ratios(without_core)
    only_core = {k: v for k, v in results.items() if k != "gridlink"}  # no GridLink run: no ratio made up of it
    assert report.ratios(only_core) == {"gridlink doing the plain pipeline's work / plain": 0.2}


def test_each_step_shows_its_statements_a_report_and_the_machine_it_ran_on():
    step = {
        "target_rate": 30.0,
        "sent": 450,
        "completed": 450,
        "throughput": 30.0,
        "p50": 0.078,
        "p95": 0.123,
        "p99": 0.148,
        "max": 0.162,
        "sustained": True,
        "reasons": [],
        "cpu_ms_per_report": {"intake": 8.0, "notification": 10.3},
        "statements_per_report": {"intake": 4.6, "dispatch": 4.1, "notification": 9.0},
        "machine_ms": 49.7,
    }
    row = report.table("GridLink", [step]).splitlines()[-1].split()
    assert row[:9] == ["30", "450", "450", "30.0", "78", "123", "148", "162", "18"]
    assert row[9:12] == ["17.7", "50", "sustained"]
    # The plain pipeline counts no statements, and runs before this change read no machine per step.
    older = {k: v for k, v in step.items() if k not in ("statements_per_report", "machine_ms")}
    assert report.table("plain", [older]).splitlines()[-1].split()[9:11] == ["—", "—"]


def test_a_point_is_tested_as_sent_so_rounding_never_puts_it_off_the_grids():
    # A strip 1.5e-6 degrees tall under a top edge at 39.8: a third of the points drawn in it round (to 6 places,
    # as the request sends them) onto that edge, which the half-open test leaves out, as intake's does.
    strip = Area("g1", ((106.80, 39.7999985), (106.82, 39.7999985), (106.82, 39.8), (106.80, 39.8)))
    load = Workload([strip], [("noise", "噪音")], Spacing({"noise": 0.01}, 0.01), hotline_token="t", seed=5)
    for _ in range(60):
        body, _ = load.next()
        assert strip.contains(body["lat"], body["long"]), body


def test_every_report_of_the_district_workload_lands_on_a_grid():
    grids = load_grid_map(REPO_ROOT / "data" / "haibowan")
    load = haibowan()
    for _ in range(2000):
        body, _ = load.next()
        assert grids.locate(body["lat"], body["long"]) is not None, body


def test_the_core_runs_reports_carry_no_reporter_and_land_where_the_full_runs_do():
    # The plain pipeline's reports carry no reporter; with one, the core run would also publish, consume and store
    # the reporter's contact, work the plain pipeline never does.
    full, core = haibowan(seed=11), haibowan(seed=11, reporters=CORE_REPORTERS)
    for _ in range(50):
        (with_reporter, _), (without, _) = full.next(), core.next()
        assert with_reporter["reporter"]["phone"].startswith("139")
        assert "reporter" not in without
        assert {k: v for k, v in with_reporter.items() if k != "reporter"} == without
