"""Plumbing metrics every service exposes on /metrics. Business metrics live in each service's own module.

Names follow Prometheus conventions (base units, `_total` counters) and pass `promtool check metrics`.
"""

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

DB_STATEMENTS = Counter(
    "gridlink_db_statements_total",
    "SQL statements this process sent to its database, one per round trip: a service's main cost driver.",
)
EVENTS_CONSUMED = Counter(
    "gridlink_events_consumed_total",
    "Events taken off the bus, by type and outcome (handled, duplicate, retried, dead_lettered).",
    ["event_type", "outcome"],
)
HANDLER_DURATION = Histogram(
    "gridlink_handler_duration_seconds",
    "Time spent in an event handler, by event type.",
    ["event_type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DEAD_LETTERS = Counter(
    "gridlink_dead_letters_total",
    "Messages sent to this service's dead-letter queue, by reason kind (invalid, handler_failed, undecodable).",
    ["reason"],
)
OUTBOX_PUBLISHED = Counter(
    "gridlink_outbox_published_total", "Outbox events published with a broker confirm.", ["event_type"]
)
OUTBOX_UNROUTABLE = Counter(
    "gridlink_outbox_unroutable_total", "Outbox events the broker returned because no queue was bound.", ["event_type"]
)
EVENTS_UNHEARD = Counter(
    "gridlink_events_unheard_total",
    "Events of a type published only for whoever binds it, not written while no queue was bound to it.",
    ["event_type"],
)
OUTBOX_PUBLISH_FAILURES = Counter(
    "gridlink_outbox_publish_failures_total", "Outbox publishes that failed and will be retried."
)
OUTBOX_PENDING = Gauge("gridlink_outbox_pending_events", "Outbox events written but not yet published.")
OUTBOX_OLDEST_AGE = Gauge(
    "gridlink_outbox_oldest_pending_age_seconds", "Age of the oldest unpublished outbox event (outbox lag)."
)
OUTBOX_LAG = Histogram(
    "gridlink_outbox_publish_lag_seconds",
    "Time from commit to broker confirm for each published event.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
TIMERS_FIRED = Counter("gridlink_timers_fired_total", "Durable timers fired, by kind.", ["kind"])
TIMER_FAILURES = Counter("gridlink_timer_failures_total", "Timer handlers that raised and will be retried.")
PRUNED_ROWS = Counter(
    "gridlink_runtime_pruned_rows_total",
    "Rows of the runtime's own tables deleted past the retention period (published outbox, inbox, fired timers).",
    ["table"],
)
TIMER_LAG = Gauge(
    "gridlink_timers_oldest_due_age_seconds",
    "How long the oldest durable timer that is due (and not backing off after a failure) has waited to fire.",
)
HTTP_REQUESTS = Counter(
    "gridlink_http_requests_total",
    "HTTP requests served, by method, route and status code.",
    ["method", "route", "code"],
)


def exposition() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
