"""Publishing a batch with publisher confirms: send every message, then wait once for all the broker's answers.

Publishing row by row waits a full confirm round trip per event, and an unroutable `mandatory` message makes
kombu's pooled producer tear its channel (and connection) down. This keeps one channel in confirm mode, publishes
the whole batch persistent and `mandatory`, then reads acks, nacks and returns until every message has an answer.
Each message's outcome is reported separately, so the guarantees are the same as one-by-one publishing:

- "sent": the broker confirmed it (persisted and routed to at least one queue);
- "unroutable": the broker returned it (no queue bound for its routing key), then confirmed the return;
- "failed": nacked, or no answer before the connection failed or the timeout passed; the caller keeps the row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import amqp
from kombu import Connection

SENT, UNROUTABLE, FAILED = "sent", "unroutable", "failed"


@dataclass(frozen=True)
class Outgoing:
    exchange: str
    routing_key: str
    body: bytes
    message_id: str
    correlation_id: str
    # `mandatory`: returned as unroutable when no queue is bound. Off only for a type nobody need consume when its
    # probing is off (`Audience.mandatory`): the broker then drops it quietly instead of returning each one.
    mandatory: bool = True


@dataclass
class _Batch:
    tags: dict[int, int] = field(default_factory=dict)  # delivery tag -> index in the batch
    outcome: list[str] = field(default_factory=list)
    returned: set[str] = field(default_factory=set)  # message ids the broker returned
    error: str | None = None


class ConfirmChannel:
    """One AMQP connection and channel in confirm mode, opened on first use and reopened after a failure."""

    def __init__(self, amqp_uri: str, timeout: float = 30.0, connect_timeout: float = 5.0):
        self.amqp_uri = amqp_uri
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._connection: amqp.Connection | None = None
        self._channel = None
        self._declared: set[str] = set()
        self._next_tag = 1
        self._batch: _Batch | None = None

    def _open(self):
        if self._channel is not None:
            return self._channel
        info = Connection(self.amqp_uri)
        connection = amqp.Connection(
            host=f"{info.hostname or '127.0.0.1'}:{info.port or 5672}",
            userid=info.userid or "guest",
            password=info.password or "guest",
            virtual_host=info.virtual_host or "/",
            connect_timeout=self.connect_timeout,
        )
        # Without `connection.blocked`, py-amqp reads the socket before every publish to catch a block notice: a
        # syscall and a caught timeout per message, about a third of publishing's cost. A broker under a resource
        # alarm still stops reading this connection; the batch then times out and its rows are retried.
        connection.negotiate_capabilities = {**amqp.connection.NEGOTIATE_CAPABILITIES, "connection.blocked": False}
        connection.connect()
        channel = connection.channel()
        channel.confirm_select()
        channel.events["basic_ack"].add(self._on_ack)
        channel.events["basic_nack"].add(self._on_nack)
        channel.events["basic_return"].add(self._on_return)
        self._connection, self._channel = connection, channel
        self._declared.clear()
        self._next_tag = 1
        return channel

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            try:
                connection.close()
            except Exception:  # already broken; nothing more to release
                connection.collect()

    def _settle(self, tag: int, multiple: bool, outcome: str) -> None:
        batch = self._batch
        if batch is None:
            return
        for t in [t for t in batch.tags if t <= tag] if multiple else [tag]:
            index = batch.tags.pop(t, None)
            if index is not None:
                batch.outcome[index] = outcome

    def _on_ack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, SENT)

    def _on_nack(self, delivery_tag: int, multiple: bool) -> None:
        self._settle(delivery_tag, multiple, FAILED)

    def _on_return(self, exc, exchange, routing_key, message) -> None:
        # A return always precedes the ack of the same message; it names the message by its message_id.
        if self._batch is not None:
            self._batch.returned.add(message.properties.get("message_id"))

    def publish(self, messages: list[Outgoing]) -> tuple[list[str], str | None]:
        """Publish all, then wait for every answer: one outcome per message, in order, and the error that cut the
        batch short (None when every message was answered)."""
        batch = _Batch(outcome=[FAILED] * len(messages))
        if not messages:
            return batch.outcome, None
        self._batch = batch
        try:
            channel = self._open()
            for exchange in {m.exchange for m in messages} - self._declared:
                channel.exchange_declare(exchange, "topic", durable=True, auto_delete=False)
                self._declared.add(exchange)
            for index, m in enumerate(messages):
                batch.tags[self._next_tag] = index
                self._next_tag += 1
                channel.basic_publish(
                    amqp.Message(
                        m.body,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=m.message_id,
                        correlation_id=m.correlation_id,
                        type=m.routing_key,
                    ),
                    exchange=m.exchange,
                    routing_key=m.routing_key,
                    mandatory=m.mandatory,
                )
            deadline = time.monotonic() + self.timeout
            while batch.tags:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(batch.tags)} confirms still missing after {self.timeout}s")
                try:
                    self._connection.drain_events(timeout=min(remaining, 1.0))
                except TimeoutError:  # socket.timeout: no frame this second; the deadline decides
                    continue
        except Exception as exc:
            # Whatever is unconfirmed stays "failed"; the connection is suspect, so start afresh next time.
            batch.error = f"{type(exc).__name__}: {exc}"
            self.close()
        finally:
            self._batch = None
        ids = [m.message_id for m in messages]
        outcomes = [UNROUTABLE if o == SENT and ids[i] in batch.returned else o for i, o in enumerate(batch.outcome)]
        return outcomes, batch.error
