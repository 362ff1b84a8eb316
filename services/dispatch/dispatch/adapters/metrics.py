"""dispatch's business metrics: cases by state and tier, and the performance figures as Prometheus gauges.

They are computed from the database at scrape time (rolling 30 days), so every replica reports the same numbers
and nothing is lost on restart. Grid-level figures are left to the HTTP report to keep the series count small.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from nameko.extensions import DependencyProvider
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily

from dispatch.domain import performance

log = logging.getLogger(__name__)

WINDOW = timedelta(days=30)
GAUGE_LEVELS = ("community", "sub_centre", "department")
FIGURES = (
    ("received", "received_cases", "Assignments received in the last 30 days.", 1),
    ("on_time_acceptance_rate", "on_time_acceptance_ratio", "Share signed for (签收) by the deadline, 30 days.", 1),
    ("on_time_resolution_rate", "on_time_resolution_ratio", "Share resolved (办结) by the deadline, 30 days.", 1),
    ("overdue", "overdue_cases", "Assignments that went overdue in the last 30 days.", 1),
    ("average_handling_hours", "average_handling_seconds", "Mean time from assignment to resolution, 30 days.", 3600),
    ("satisfaction_rate", "satisfaction_ratio", "Share of ratings satisfied or basically satisfied, 30 days.", 1),
    ("reopen_rate", "reopen_ratio", "Share of resolutions reopened after an unsatisfied rating, 30 days.", 1),
)


class PerformanceCollector:
    def __init__(self, uow_factory, clock=lambda: datetime.now(UTC)):
        self.uow_factory = uow_factory
        self.clock = clock

    def describe(self):
        return []  # computed at scrape; nothing to check at registration

    def collect(self):
        now = self.clock()
        try:
            with self.uow_factory() as uow:
                by_state = uow.cases.count_by_state_and_tier()
                periods = uow.cases.periods_between(now - WINDOW, now + timedelta(seconds=1))
        except Exception:  # a scrape must not fail because the database blinked; the next one retries
            log.exception("dispatch metrics: database unavailable")
            return
        cases = GaugeMetricFamily("gridlink_dispatch_cases", "Cases by state and tier.", labels=["state", "tier"])
        for state, tier, count in by_state:
            cases.add_metric([state, tier], count)
        yield cases
        families = {
            key: GaugeMetricFamily(f"gridlink_dispatch_{name}", doc, labels=["level", "unit"])
            for key, name, doc, _ in FIGURES
        }
        for level in GAUGE_LEVELS:
            for row in performance.by_unit(periods, level, now):
                values = row.as_dict()
                for key, _, _, scale in FIGURES:
                    if values[key] is not None:
                        families[key].add_metric([level, row.unit_code], values[key] * scale)
        yield from families.values()


class PerformanceGauges(DependencyProvider):
    """Registers the collector on the process's registry while the service runs (once per process)."""

    active: PerformanceCollector | None = None  # shared: a second container in one process (tests) must not add one

    def start(self):
        from gridlink.runtime.dependencies import Storage

        if PerformanceGauges.active is not None:
            self.collector = None
            return
        storage = next(d for d in self.container.dependencies if isinstance(d, Storage))
        self.collector = PerformanceGauges.active = PerformanceCollector(storage.database.uow)
        REGISTRY.register(self.collector)

    def stop(self):
        if getattr(self, "collector", None) is not None:
            REGISTRY.unregister(self.collector)
            self.collector = PerformanceGauges.active = None

    def kill(self):
        self.stop()
