"""The cyclic garbage collector and a service's long-lived heap.

A service imports nameko, kombu, SQLAlchemy and marshmallow, and loads its reference data (435 grids, categories,
templates) at setup: 100,000–180,000 objects that live as long as the process. Every full collection walked all of
them again, and in a drain of 1,500 reports the collector took 2–6 % of a busy service's CPU, a third to two thirds
of it in those full passes (docs/performance.md, Optimisation 41). `settle` moves what is alive into the permanent
generation, which the collector no longer walks; what is created later is collected as before, and anything frozen
still goes as soon as nothing refers to it.
"""

from __future__ import annotations

import gc

# Long enough after the start for the container's setup (reference data, pools, the first statements) to be done.
SETTLE_AFTER_SECONDS = 20.0


def settle() -> int:
    """Collect what is garbage now, then freeze everything still alive; returns how many objects are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
