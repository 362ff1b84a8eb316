"""notification's business metrics: messages sent, failed and skipped, and delivery latency, per channel."""

from functools import cache

from prometheus_client import Counter, Histogram

MESSAGES_SENT = Counter(
    "gridlink_notification_messages_sent_total", "Messages a provider accepted, by channel and provider.",
    ["channel", "provider"],
)  # fmt: skip
MESSAGES_FAILED = Counter(
    "gridlink_notification_messages_failed_total", "Messages given up after every retry and provider, by channel.",
    ["channel"],
)  # fmt: skip
ATTEMPTS_FAILED = Counter(
    "gridlink_notification_attempts_failed_total", "Single provider attempts that failed, by channel and provider.",
    ["channel", "provider"],
)  # fmt: skip
MESSAGES_HELD = Counter(
    "gridlink_notification_messages_restrained_total",
    "Messages skipped, merged into a digest or held, by channel and reason.",
    ["channel", "reason"],
)
SEND_DURATION = Histogram(
    "gridlink_notification_send_duration_seconds", "Time one provider call took, by channel.", ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)  # fmt: skip
DELIVERY_LATENCY = Histogram(
    "gridlink_notification_delivery_latency_seconds",
    "Time from a message's creation to a provider accepting it (quiet hours and retries included), by channel.",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 3600, 36000),
)
PASSES_GATHERED = Histogram(
    "gridlink_notification_gathered_passes",
    "Delivery passes handed off after commits that ran together, their outcomes saved in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
SMTP_CONNECTIONS = Counter(
    "gridlink_notification_smtp_connections_total",
    'SMTP connections opened; e-mails sent (messages_sent_total{channel="email"}) reuse them.',
)


# A message's figures are recorded for every provider call. `labels()` takes the metric's lock and builds the label
# tuple each time; the channels and providers are a handful, so each child is looked up once.
@cache
def sent(channel: str, provider: str):
    return MESSAGES_SENT.labels(channel, provider)


@cache
def send_duration(channel: str):
    return SEND_DURATION.labels(channel)


@cache
def delivery_latency(channel: str):
    return DELIVERY_LATENCY.labels(channel)
