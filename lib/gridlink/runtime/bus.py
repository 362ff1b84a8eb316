"""Publishing to RabbitMQ with publisher confirms, persistent delivery and `mandatory`.

Events go to the source service's topic exchange (`<service>.events`) with the event type as routing key, the
way nameko routes them, so partners using plain AMQP see ordinary JSON messages.
"""

from __future__ import annotations

from kombu import Exchange, Queue
from nameko.amqp.publish import Publisher, UndeliverableMessage

from gridlink.runtime.confirms import ConfirmChannel, Outgoing

__all__ = ["Bus", "Outgoing", "UndeliverableMessage", "events_exchange"]


def events_exchange(source: str) -> Exchange:
    return Exchange(f"{source}.events", type="topic", durable=True)


class Bus:
    def __init__(self, amqp_uri: str):
        self.amqp_uri = amqp_uri
        self._publisher = Publisher(amqp_uri, use_confirms=True, mandatory=True, retry=True)
        self._confirms: ConfirmChannel | None = None

    def publish_batch(self, messages: list[Outgoing]) -> tuple[list[str], str | None]:
        """Publish events persistent and `mandatory`, then wait once for all their confirms (see `confirms.py`):
        one outcome per message ("sent", "unroutable" or "failed") and the error that cut the batch short."""
        if self._confirms is None:
            self._confirms = ConfirmChannel(self.amqp_uri)
        return self._confirms.publish(messages)

    def close(self) -> None:
        if self._confirms is not None:
            self._confirms.close()

    def publish_event(self, exchange: str, event_type: str, body: bytes, event_id: str, correlation_id: str) -> None:
        """Raises UndeliverableMessage when no queue is bound for the event type."""
        source = exchange.removesuffix(".events")
        self._publisher.publish(
            body,
            exchange=events_exchange(source),
            routing_key=event_type,
            declare=[events_exchange(source)],
            content_type="application/json",
            content_encoding="utf-8",
            message_id=event_id,
            correlation_id=correlation_id,
            type=event_type,
        )

    def send_to_queue(
        self,
        queue: Queue,
        body: bytes,
        headers: dict,
        content_type: str | None = "application/json",
        content_encoding: str | None = "utf-8",
    ) -> None:
        """Send straight to one queue through the default exchange (retries, dead letters, replays)."""
        self._publisher.publish(
            body,
            exchange="",
            routing_key=queue.name,
            declare=[queue],
            headers=headers,
            content_type=content_type or "application/octet-stream",
            content_encoding=content_encoding or "binary",
        )
