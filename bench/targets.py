"""Issue 9's three targets, judged against one run's results.

`make bench` prints the verdicts and writes them to the JSON, so whether a target was met is computed from the run
that measured it, never worked out by hand afterwards. Each target is judged for the whole platform (`gridlink`)
and for GridLink doing the plain pipeline's work (`core`), whichever the run measured. A verdict of `None` means
the run could not tell (no step at the rate, or no plain pipeline to compare with).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from bench.stats import ratio

SUSTAINED_RATE = 300.0  # reports a second, sustained end to end
P99_RATE = 150.0  # the offered rate at which p99 is judged
P99_LIMIT_S = 1.0
PLAIN_SHARE = 0.75  # of the plain nameko pipeline's highest sustained rate

JUDGED = ("gridlink", "core")


@dataclass(frozen=True)
class Verdict:
    target: str
    pipeline: str
    measured: str
    met: bool | None

    def as_dict(self) -> dict:
        return asdict(self)


def _sustained_rate(pipeline: str, run: dict) -> Verdict:
    best = run["highest_sustained"]
    return Verdict(f"at least {SUSTAINED_RATE:g} reports/s sustained", pipeline, f"{best:g}/s", best >= SUSTAINED_RATE)


def _p99_at_rate(pipeline: str, run: dict) -> Verdict:
    target = f"p99 at or under {P99_LIMIT_S * 1000:g} ms at {P99_RATE:g}/s"
    step = next((s for s in run["steps"] if s["target_rate"] == P99_RATE), None)
    if step is None:
        # The sweep stops at its first step that backs up: one below the rate means the rate was out of reach.
        failed = [s["target_rate"] for s in run["steps"] if not s["sustained"] and s["target_rate"] < P99_RATE]
        if failed:
            return Verdict(target, pipeline, f"backed up at {min(failed):g}/s already", False)
        return Verdict(target, pipeline, f"no step at {P99_RATE:g}/s", None)
    p99 = step["p99"]
    shown = "no report delivered" if p99 is None else f"{p99 * 1000:.0f} ms"
    if not step["sustained"]:
        # A step that backed up has a p99 that only says how long the run lasted, not what the rate costs.
        return Verdict(target, pipeline, f"backed up ({shown})", False)
    return Verdict(target, pipeline, shown, p99 is not None and p99 <= P99_LIMIT_S)


def _share_of_plain(pipeline: str, run: dict, plain: float | None) -> Verdict:
    target = f"at least {PLAIN_SHARE:g} of the plain pipeline"
    share = None if plain is None else ratio(run["highest_sustained"], plain)
    if share is None:
        return Verdict(target, pipeline, "no plain pipeline measured", None)
    return Verdict(target, pipeline, f"{share:g} ({run['highest_sustained']:g}/s of {plain:g}/s)", share >= PLAIN_SHARE)


def judge(results: dict) -> list[Verdict]:
    """Every target for every judged pipeline the run measured, target by target."""
    plain = results.get("plain", {}).get("highest_sustained")
    runs = [(name, results[name]) for name in JUDGED if name in results]
    return [
        *(_sustained_rate(name, run) for name, run in runs),
        *(_p99_at_rate(name, run) for name, run in runs),
        *(_share_of_plain(name, run, plain) for name, run in runs),
    ]


def machine_ceiling(results: dict) -> str | None:
    """Where the plain pipeline, which carries none of the guarantees, did not reach the rate target itself: a
    rate it cannot sustain is beyond this machine in this run for any pipeline doing more."""
    plain = results.get("plain", {}).get("highest_sustained")
    if plain is None or plain >= SUSTAINED_RATE:
        return None
    return (
        f"the plain pipeline itself sustained {plain:g}/s in this run, so {SUSTAINED_RATE:g}/s was beyond this "
        "machine for any pipeline doing its work or more"
    )
