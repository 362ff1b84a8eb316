"""Names and headers of the retry and dead-letter queues, and how a failed message is parked.

Each consumer queue `Q` gets one retry queue per delay, `Q.retry.<ms>ms`, whose messages expire back into `Q`
through the default exchange (so only the consumer that failed sees the retry). After the last retry, or at once
for a message that cannot be valid, the message goes to `<service>.dead-letter` with the error in its headers.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kombu import Queue

ATTEMPTS = "x-gridlink-attempts"
DEAD_LETTER_ID = "x-gridlink-dead-letter-id"
REASON = "x-gridlink-reason"
ERROR = "x-gridlink-error"
ORIGINAL_QUEUE = "x-gridlink-original-queue"
ORIGINAL_EXCHANGE = "x-gridlink-original-exchange"
ORIGINAL_ROUTING_KEY = "x-gridlink-original-routing-key"
FAILED_AT = "x-gridlink-failed-at"

MAX_ERROR_CHARS = 4000


def dead_letter_queue(service: str) -> Queue:
    return Queue(f"{service}.dead-letter", durable=True)


def retry_queue(consumer_queue: str, delay_seconds: float) -> Queue:
    ms = max(1, int(delay_seconds * 1000))
    return Queue(
        f"{consumer_queue}.retry.{ms}ms",
        durable=True,
        queue_arguments={
            "x-message-ttl": ms,
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": consumer_queue,
        },
    )


def attempts_of(headers: dict | None) -> int:
    try:
        return int((headers or {}).get(ATTEMPTS, 0))
    except (TypeError, ValueError):
        return 0


def dead_letter_headers(headers: dict | None, reason: str, error: str, queue: str, delivery_info: dict) -> dict:
    kept = {k: v for k, v in (headers or {}).items() if k != "x-death"}
    kept.update(
        {
            DEAD_LETTER_ID: str(uuid.uuid4()),
            REASON: reason,
            ERROR: error[:MAX_ERROR_CHARS],
            ORIGINAL_QUEUE: queue,
            ORIGINAL_EXCHANGE: delivery_info.get("exchange", ""),
            ORIGINAL_ROUTING_KEY: delivery_info.get("routing_key", ""),
            FAILED_AT: datetime.now(UTC).isoformat(),
        }
    )
    return kept


def replay_headers(headers: dict) -> dict:
    """A replayed message starts its retries afresh; the dead-letter bookkeeping is dropped."""
    dropped = {DEAD_LETTER_ID, REASON, ERROR, ORIGINAL_QUEUE, ORIGINAL_EXCHANGE, ORIGINAL_ROUTING_KEY, FAILED_AT}
    dropped |= {ATTEMPTS, "x-death"}
    return {k: v for k, v in headers.items() if k not in dropped}
