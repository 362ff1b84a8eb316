"""How fast this machine runs Python right now: a fixed pure-Python workload, timed in CPU seconds.

The same commit measured 82 ms of CPU per report one evening and 44 the next (docs/performance.md): the machine's
speed moves with whatever else its host runs, and a benchmark's figures move with it. Each run records this
workload's time at its start and end, so runs made at different hours can be compared, or at least suspected.
"""

from __future__ import annotations

import json
import statistics
import time

# A payload of the size and shape the services handle: an event envelope with a dozen fields.
_EVENT = {
    "event_id": "6f1c1c8e-3a55-4a53-9d1e-0f8d8f0b2d11",
    "type": "report_accepted",
    "version": 1,
    "source": "intake",
    "correlation_id": "0b0b0b0b-0000-4000-8000-000000000000",
    "payload": {"tracking_code": "HB-261129-ABCDEF", "grid_code": "150302001001001", "urgency": "normal"},
}


def _workload() -> int:
    """Dictionary, string, call and JSON work, as the services' own code is mostly (about 30 ms here)."""
    seen: dict[str, int] = {}
    total = 0
    for i in range(60_000):
        key = f"{_EVENT['type']}:{i % 997}"
        seen[key] = seen.get(key, 0) + len(key)
        if i % 20 == 0:
            total += len(json.loads(json.dumps(_EVENT))["payload"])
    return total + len(seen)


def python_ms(repeats: int = 5) -> float:
    """The median CPU milliseconds of the workload over `repeats` runs (lower is a faster machine)."""
    times = []
    for _ in range(repeats):
        started = time.process_time()
        _workload()
        times.append((time.process_time() - started) * 1000)
    return round(statistics.median(times), 1)
