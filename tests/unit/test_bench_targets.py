"""Issue 9's targets judged from a run's results: what `make bench` prints and writes as met or not."""

from bench import report
from bench.targets import judge, machine_ceiling


def _step(rate: float, p99: float | None, sustained: bool = True) -> dict:
    return {"target_rate": rate, "p99": p99, "sustained": sustained}


def _results(**runs: dict) -> dict:
    return {"meta": {}, **runs}


RATE = "at least 300 reports/s sustained"
P99 = "p99 at or under 1000 ms at 150/s"
SHARE = "at least 0.75 of the plain pipeline"


def _verdicts(results: dict) -> dict[tuple[str, str], tuple[str, bool | None]]:
    return {(v.target, v.pipeline): (v.measured, v.met) for v in judge(results)}


def test_each_target_is_judged_for_the_whole_platform_and_the_core_run_from_the_same_run():
    results = _results(
        gridlink={"highest_sustained": 90.0, "steps": [_step(90, 0.362), _step(150, 4.1, sustained=False)]},
        core={"highest_sustained": 200.0, "steps": [_step(150, 0.199), _step(200, 0.731)]},
        plain={"highest_sustained": 250.0, "steps": [_step(250, 0.183)]},
    )
    got = _verdicts(results)
    assert got[(RATE, "gridlink")] == ("90/s", False)
    assert got[(RATE, "core")] == ("200/s", False)
    # The whole platform backed up at 150/s: its p99 there only says how long the step ran, and fails the target.
    assert got[(P99, "gridlink")] == ("backed up (4100 ms)", False)
    assert got[(P99, "core")] == ("199 ms", True)
    assert got[(SHARE, "gridlink")] == ("0.36 (90/s of 250/s)", False)
    assert got[(SHARE, "core")] == ("0.8 (200/s of 250/s)", True)
    assert machine_ceiling(results).startswith("the plain pipeline itself sustained 250/s")


def test_the_limits_themselves_are_met_and_a_slow_sustained_step_is_not():
    results = _results(
        gridlink={"highest_sustained": 300.0, "steps": [_step(150, 1.0)]},
        core={"highest_sustained": 225.0, "steps": [_step(150, 1.001)]},
        plain={"highest_sustained": 300.0, "steps": []},
    )
    got = _verdicts(results)
    assert got[(RATE, "gridlink")][1] is True
    assert got[(P99, "gridlink")][1] is True
    assert got[(SHARE, "gridlink")][1] is True
    assert got[(SHARE, "core")] == ("0.75 (225/s of 300/s)", True)
    assert got[(P99, "core")] == ("1001 ms", False)
    assert machine_ceiling(results) is None  # the plain pipeline reached the rate: the machine was not the limit


def test_what_the_run_did_not_measure_is_said_so_never_passed_or_failed():
    quick = _results(gridlink={"highest_sustained": 5.0, "steps": [_step(2, 0.05), _step(5, 0.06)]})
    got = _verdicts(quick)
    assert set(got) == {(RATE, "gridlink"), (P99, "gridlink"), (SHARE, "gridlink")}
    assert got[(P99, "gridlink")] == ("no step at 150/s", None)
    # The sweep stops at the first step that backs up: one below 150/s fails the target, it is not unmeasured.
    quick["gridlink"]["steps"][-1]["sustained"] = False
    assert _verdicts(quick)[(P99, "gridlink")] == ("backed up at 5/s already", False)
    assert got[(SHARE, "gridlink")] == ("no plain pipeline measured", None)
    assert machine_ceiling(quick) is None


def test_the_printed_and_markdown_verdicts_name_each_pipeline_and_outcome():
    results = _results(
        gridlink={"highest_sustained": 90.0, "steps": [_step(150, 3.0, sustained=False)]},
        core={"highest_sustained": 200.0, "steps": [_step(150, 0.199)]},
        plain={"highest_sustained": 250.0, "steps": []},
    )
    results["targets"] = [v.as_dict() for v in judge(results)]
    printed = report.targets(results).splitlines()
    assert len(printed) == 1 + 6 + 1
    p99_core = next(line for line in printed if "p99" in line and "core run" in line)
    assert p99_core.split()[-2:] == ["ms", "met"]
    rate_whole = next(line for line in printed if "300 reports/s" in line and "whole platform" in line)
    assert rate_whole.endswith("NOT MET")
    assert printed[-1].startswith("  (the plain pipeline itself sustained 250/s")
    for name in ("gridlink", "core", "plain"):
        results[name]["steps"] = []  # the rate tables are another test's
    results["meta"] = {"started": "t", "commit": "c", "cpus": 2, "load_average_at_start": [0.1, 0.1, 0.1]}
    table = report.markdown(results)
    assert "| p99 at or under 1000 ms at 150/s | core run | 199 ms | met |" in table
    assert "| at least 0.75 of the plain pipeline | whole platform | 0.36 (90/s of 250/s) | NOT MET |" in table
