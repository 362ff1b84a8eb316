"""The benchmark's arithmetic: percentiles, one rate step's summary, and whether a step kept up (no growing backlog).

Pure functions over plain numbers, so the harness's judgement is itself unit-tested (tests/unit/test_bench_stats.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

# A step is "sustained" only when every one of these holds; each is a sign that work is piling up somewhere.
MAX_SEND_LAG_S = 0.5  # the client's sends fell this far behind schedule: intake's HTTP stopped keeping up
MIN_COMPLETED = 0.999  # share of accepted reports whose assignment message was recorded before the drain ended
MIN_OFFERED_RATIO = 0.95  # the rate the client really offered, against the target
# Latency growth between the first and last quarter of a step, beyond noise: a queue that is filling up.
GROWTH_FLOOR_S = 0.25
GROWTH_FACTOR = 0.5
# Work the measured path does not wait for (e-mail, SMS and the other channels' deliveries) may not fall behind
# either: more than this share of the step's reports with a delivery overdue at its end is a backlog too.
MAX_OVERDUE_SHARE = 0.01


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0–100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def quarter_medians(sent_at: Sequence[float], latencies: Sequence[float]) -> tuple[float, float]:
    """Median latency of the first and of the last quarter of the sends, ordered by send time (seconds).

    A queue that fills during the step shows as a last quarter slower than the first, however the requests
    interleave. Fewer than 20 samples (quarters of 5) say nothing: both are the overall median.
    """
    if len(latencies) < 20:
        middle = percentile(latencies, 50) if latencies else 0.0
        return middle, middle
    ordered = [lat for _, lat in sorted(zip(sent_at, latencies, strict=True))]
    quarter = len(ordered) // 4
    return percentile(ordered[:quarter], 50), percentile(ordered[-quarter:], 50)


def backlog_grew(first: float, last: float) -> bool:
    """Whether the last quarter's median exceeds the first's by more than noise: GROWTH_FLOOR_S, or half the first
    quarter's own median, whichever is larger."""
    return last - first > max(GROWTH_FLOOR_S, GROWTH_FACTOR * first)


@dataclass(frozen=True)
class StepResult:
    """One rate step: what was offered, what came through, and its latency distribution (seconds)."""

    target_rate: float
    duration_s: float
    sent: int
    accepted: int
    rejected: int
    merged: int
    completed: int
    offered_rate: float
    throughput: float
    max_send_lag_s: float
    p50: float
    p95: float
    p99: float
    max: float
    growth_s: float
    overdue: int
    sustained: bool
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in data.items()}


def summarise_step(
    target_rate: float,
    duration_s: float,
    sent_at: Sequence[float],
    send_lags: Sequence[float],
    latencies: dict[str, float],
    accepted: Sequence[str],
    rejected: int,
    merged: int,
    sent_at_by_id: dict[str, float],
    overdue: int = 0,
) -> StepResult:
    """Judge one step. `accepted` are the report ids intake accepted as new reports (merged ones excluded);
    `latencies` maps those that completed to their end-to-end latency; `sent_at` are all send times (epoch s);
    `overdue` counts the deliveries off the measured path that were late when the step's reports had arrived."""
    sent = len(sent_at)
    span = (max(sent_at) - min(sent_at)) if sent > 1 else 0.0
    offered = (sent - 1) / span if span > 0 else float(sent)
    done = [latencies[r] for r in accepted if r in latencies]
    done_sent = [sent_at_by_id[r] for r in accepted if r in latencies]
    completed = len(done)
    if done_sent:
        # Completions per second from the first send to the last completion.
        window = max(s + lat for s, lat in zip(done_sent, done, strict=True)) - min(done_sent)
        throughput = completed / window if window > 0 else float(completed)
    else:
        throughput = 0.0
    max_lag = max(send_lags) if send_lags else 0.0
    first_q, last_q = quarter_medians(done_sent, done)
    growth = last_q - first_q
    reasons = []
    if sent < target_rate * duration_s * 0.9:
        reasons.append(f"only {sent} of {round(target_rate * duration_s)} reports were sent")
    if offered < target_rate * MIN_OFFERED_RATIO:
        reasons.append(f"offered {offered:.1f}/s of {target_rate:g}/s")
    if max_lag > MAX_SEND_LAG_S:
        reasons.append(f"sends fell {max_lag:.2f}s behind schedule")
    if rejected:
        reasons.append(f"{rejected} requests failed")
    if not accepted or completed < len(accepted) * MIN_COMPLETED:
        reasons.append(f"{len(accepted) - completed} of {len(accepted)} reports not delivered in time")
    if done and backlog_grew(first_q, last_q):
        reasons.append(f"latency grew {growth:.2f}s during the step")
    if overdue > max(1, MAX_OVERDUE_SHARE * len(accepted)):
        reasons.append(f"{overdue} other deliveries overdue at the end")
    return StepResult(
        target_rate=target_rate,
        duration_s=duration_s,
        sent=sent,
        accepted=len(accepted),
        rejected=rejected,
        merged=merged,
        completed=completed,
        offered_rate=round(offered, 2),
        throughput=round(throughput, 2),
        max_send_lag_s=round(max_lag, 4),
        p50=percentile(done, 50),
        p95=percentile(done, 95),
        p99=percentile(done, 99),
        max=max(done) if done else math.nan,
        growth_s=round(growth, 4),
        overdue=overdue,
        sustained=not reasons,
        reasons=tuple(reasons),
    )


def highest_sustained(steps: Sequence[StepResult]) -> float:
    """The highest target rate sustained, counting only rates below the first failure (a lucky higher step after a
    failed one is noise, not capacity). 0 when none was."""
    best = 0.0
    for step in sorted(steps, key=lambda s: s.target_rate):
        if not step.sustained:
            break
        best = step.target_rate
    return best


def ratio(ours: float, theirs: float) -> float | None:
    """ours / theirs to three significant figures (ceilings can be hundreds of times larger); None without theirs."""
    return float(f"{ours / theirs:.3g}") if theirs else None
