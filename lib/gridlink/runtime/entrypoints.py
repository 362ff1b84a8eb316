"""nameko entrypoints that only translate between the wire and the service: a reliable event consumer, and an
HTTP entrypoint that maps errors to precise 4xx responses in one place.

nameko acks a message even when its handler raised, which would drop the event. `EventConsumer` instead sends a
failed message to a delayed retry queue, and after the last retry to the service's dead-letter queue, and only then
acks. A body that cannot be decoded or does not match its contract goes straight to dead-letter.

With `batch=True` the method receives a list of up to `EVENT_BATCH` envelopes: the messages that arrived together,
handed to one worker (and, with `storage.handle_all`, one transaction). Nothing waits to fill a batch: a message
that arrives alone is handled alone at once; only a backlog makes batches, which is when the per-event cost matters.
With `linger=True` as well, a batch waits up to `EVENT_LINGER` seconds for more to arrive: for consumers nobody
waits on within a fraction of a second (a read model), so that a steady trickle is handled in a few transactions
rather than one per event.

Every other batching consumer waits too, but only while events flow: when the event that opens a batch arrived
within `EVENT_FLOW_LINGER` seconds (0.05) of the one before it, the batch waits that long for more. A lone event
after a quiet spell is handled at once, so a quiet district sees no delay; under a steady stream of reports each
hop takes them a few at a time, in one transaction, one claim and one relay pass, instead of one each.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass
from functools import partial
from typing import Any

from amqp.exceptions import ConnectionError as AMQPConnectionError
from marshmallow import ValidationError
from nameko.events import EventHandler
from nameko.exceptions import ContainerBeingKilled
from nameko.messaging import QueueConsumer
from nameko.web.handlers import HttpRequestHandler
from werkzeug.wrappers import Response

from gridlink.contracts import Envelope, InvalidEvent, parse_envelope
from gridlink.runtime import deadletter, metrics
from gridlink.runtime.audit import AuditTrail
from gridlink.runtime.bus import Bus
from gridlink.runtime.db import BatchAbandoned, database_unavailable, work_cancelled
from gridlink.runtime.personal import open_body

log = logging.getLogger(__name__)


# What a dropped broker connection raises (kombu's `connection_errors` for py-amqp).
BROKER_CONNECTION_ERRORS = (OSError, AMQPConnectionError)

# No legitimate event comes near this; a larger body is a mistake or an attack, and is parked unread.
MAX_BODY_BYTES = 1024 * 1024


class ReliableQueueConsumer(QueueConsumer):
    """nameko's queue consumer, plus a decode-error hook so an undecodable body is dead-lettered, not fatal."""

    def get_consumers(self, consumer_cls, channel):
        for provider in self._providers:
            consumer = consumer_cls(
                queues=[provider.queue],
                callbacks=[partial(self.handle_message, provider)],
                accept=self.accept,
                on_decode_error=partial(self._undecodable, provider),
            )
            consumer.qos(prefetch_count=self.prefetch_count)
            self._consumers[provider] = consumer
        return self._consumers.values()

    def _undecodable(self, provider, message, exc):
        provider.park(message, "undecodable", f"{type(exc).__name__}: {exc}")


@dataclass(frozen=True)
class Taken:
    """A message taken off the queue and not yet settled, with its parsed envelope."""

    envelope: Envelope
    message: object
    started: float


class EventConsumer(EventHandler):
    """`@event_consumer("intake", "report_accepted")`: the method receives a validated `Envelope`;
    `@event_consumer(..., batch=True)`: a list of them (see the module's docstring)."""

    queue_consumer = ReliableQueueConsumer()

    def __init__(self, source_service, event_type, batch: bool = False, linger: bool = False, **kwargs):
        if batch:
            # A batch abandoned is handled one by one (`handle_batch_result`): nameko logs it as an expected error,
            # a warning, not as an error with a traceback that would page an operator for nothing lost.
            expected = kwargs.get("expected_exceptions", ())
            expected = expected if isinstance(expected, tuple) else (expected,)
            kwargs["expected_exceptions"] = (*expected, BatchAbandoned)
        super().__init__(source_service, event_type, **kwargs)
        self.batching = batch
        self.lingering = linger and batch
        self.batch_size = 1  # from the settings at setup
        self.linger_seconds = 0.0
        self.flow_linger_seconds = 0.0
        self._last_arrival = float("-inf")
        self._taken: list[Taken] = []
        self._flush_scheduled = False

    def setup(self):
        super().setup()
        settings = self.container.config["GRIDLINK"]
        self.service_name = self.container.service_name
        self.retry_delays = settings.retry_delays
        self.pii_key = settings.pii_key
        self.bus = Bus(settings.amqp_uri)
        # The broker lets a consumer hold at most prefetch_count unacked messages: a batch that size is full.
        self.batch_size = min(settings.event_batch, self.queue_consumer.prefetch_count) if self.batching else 1
        self.linger_seconds = settings.event_linger if self.lingering else 0.0
        self.flow_linger_seconds = settings.event_flow_linger if self.batching else 0.0

    @property
    def consumer_name(self) -> str:
        return f"{self.container.service_name}.{self.method_name}"

    def handle_message(self, body, message):
        try:
            if message.body is not None and len(message.body) > MAX_BODY_BYTES:
                raise InvalidEvent(f"body of {len(message.body)} bytes exceeds the {MAX_BODY_BYTES}-byte limit")
            envelope = parse_envelope(open_body(body, self.pii_key))
            if envelope.type != self.event_type or envelope.source != self.source_service:
                expected = f"{self.source_service}/{self.event_type}"
                raise InvalidEvent(f"{envelope.source}/{envelope.type} arrived on the queue for {expected}")
        except InvalidEvent as exc:
            self.park(message, "invalid", str(exc))
            return
        started = time.perf_counter()
        if self.batching:
            self._gather(Taken(envelope, message, started))
        else:
            self._spawn(envelope, message, started)

    def _gather(self, taken: Taken) -> None:
        # nameko hands each message to its own green thread as the consumer reads it off the socket; those threads
        # run one after another before the flush scheduled by the first, so the flush takes all that arrived
        # together, and no more: it never waits for a message that has not arrived.
        wait = self._linger_for(taken.started)
        self._taken.append(taken)
        if len(self._taken) >= self.batch_size:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            flush = partial(self._scheduled_flush, wait)
            self.container.spawn_managed_thread(flush, identifier=f"{self.consumer_name}.flush")

    def _linger_for(self, arrived: float) -> float:
        """How long a batch opened by a message that arrived now waits for more: always `linger_seconds` for a
        lingering consumer; otherwise `flow_linger_seconds` if the previous message arrived within that time (events
        are flowing), else nothing."""
        flowing = arrived - self._last_arrival < self.flow_linger_seconds
        self._last_arrival = arrived
        if self.linger_seconds:
            return self.linger_seconds
        return self.flow_linger_seconds if flowing else 0.0

    def _scheduled_flush(self, wait: float) -> None:
        if wait:
            time.sleep(wait)  # green: the messages arriving meanwhile join the batch
        self._flush_scheduled = False
        self._flush()

    def _flush(self) -> None:
        batch, self._taken = self._taken, []
        if batch:
            self._spawn_batch(batch)

    def _spawn_batch(self, batch: list[Taken]) -> None:
        try:
            self.container.spawn_worker(
                self,
                ([taken.envelope for taken in batch],),
                {},
                context_data=self.unpack_message_headers(batch[0].message),
                handle_result=partial(self.handle_batch_result, batch),
            )
        except ContainerBeingKilled:
            for taken in batch:
                self._requeue(taken.message)

    def handle_batch_result(self, batch: list[Taken], worker_ctx, result=None, exc_info=None):
        if exc_info is None:
            self._handled([(t.message, t.started, handled is False) for t, handled in zip(batch, result, strict=True)])
            return result, exc_info
        if len(batch) == 1:
            return self.handle_result(batch[0].message, batch[0].started, worker_ctx, None, exc_info)
        # Nothing of the batch was committed. Each event is handled alone, so the one that fails is retried or
        # dead-lettered by itself and the others go through.
        log.warning(
            "a batch failed; its events are handled one by one",
            extra={"fields": {"events": len(batch), "error": repr(exc_info[1])}},
        )
        self.container.spawn_managed_thread(partial(self._one_by_one, batch), identifier=f"{self.consumer_name}.split")
        return result, exc_info

    def _one_by_one(self, batch: list[Taken]) -> None:
        for taken in batch:
            self._spawn_batch([taken])

    def _spawn(self, envelope: Envelope, message, started: float):
        try:
            self.container.spawn_worker(
                self,
                (envelope,),
                {},
                context_data=self.unpack_message_headers(message),
                handle_result=partial(self.handle_result, message, started),
            )
        except ContainerBeingKilled:
            self._requeue(message)

    def _handled(self, settled: list[tuple[Any, float, bool]]) -> None:
        """Count, log and ack what a worker committed: (message, when it arrived, whether it was a duplicate).

        One log line for a batch: its events' lines would carry nothing but the batch's size (a batch of one has
        its event's id and correlation id on the line), and a busy consumer wrote one per event.
        """
        now = time.perf_counter()
        duration = metrics.HANDLER_DURATION.labels(self.event_type)
        duplicates = 0
        for message, started, duplicate in settled:
            duration.observe(now - started)
            duplicates += duplicate
            self._ack(message)
        for outcome, count in (("handled", len(settled) - duplicates), ("duplicate", duplicates)):
            if count:
                metrics.EVENTS_CONSUMED.labels(self.event_type, outcome).inc(count)
        longest_ms = round((now - min(started for _, started, _ in settled)) * 1000, 2)
        if len(settled) == 1:
            log.info(f"event {'duplicate' if duplicates else 'handled'}", extra={"fields": {"duration_ms": longest_ms}})
        else:
            fields = {"events": len(settled), "duplicates": duplicates, "duration_ms": longest_ms}
            log.info("events handled", extra={"fields": fields})

    def handle_result(self, message, started, worker_ctx, result=None, exc_info=None):
        event_type = self.event_type
        if exc_info is None:
            self._handled([(message, started, result is False)])
            return result, exc_info
        metrics.HANDLER_DURATION.labels(event_type).observe(time.perf_counter() - started)
        error = "".join(traceback.format_exception(*exc_info))
        attempts = deadletter.attempts_of(message.headers) + 1
        # The database being unavailable is no fault of the event's, and no number of attempts says it is poison:
        # such an event waits for the database (at the longest delay once past the others), however long it is
        # down, rather than go to dead letters that someone must replay by hand (unless retries are off). A statement
        # the server cancelled or timed out is not that: it may time out every time, so it goes the way of any error.
        exc = exc_info[1]
        waits_for_database = bool(self.retry_delays) and database_unavailable(exc) and not work_cancelled(exc)
        try:
            if attempts <= len(self.retry_delays) or waits_for_database:
                delay = self.retry_delays[min(attempts, len(self.retry_delays)) - 1]
                headers = {**(message.headers or {}), deadletter.ATTEMPTS: attempts}
                headers.pop("x-death", None)
                self.bus.send_to_queue(
                    deadletter.retry_queue(self.queue.name, delay),
                    message.body,
                    headers,
                    message.content_type,
                    message.content_encoding,
                )
                metrics.EVENTS_CONSUMED.labels(event_type, "retried").inc()
                log.warning(
                    "handler failed; retry scheduled",
                    extra={
                        "fields": {
                            "attempt": attempts,
                            "delay_seconds": delay,
                            "waits_for_database": waits_for_database,
                            "error": repr(exc_info[1]),
                        }
                    },
                )
            else:
                self._dead_letter(message, "handler_failed", error, attempts)
                metrics.EVENTS_CONSUMED.labels(event_type, "dead_lettered").inc()
            self._ack(message)
        except Exception:
            # The broker refused the retry copy: give the message back rather than lose it.
            log.exception("could not schedule a retry; message requeued")
            self._requeue(message)
        return result, exc_info

    def _ack(self, message) -> None:
        self._settle(self.queue_consumer.ack_message, message, "ack")

    def _requeue(self, message) -> None:
        self._settle(self.queue_consumer.requeue_message, message, "requeue")

    @staticmethod
    def _settle(settle, message, what: str) -> None:
        """Ack or requeue; if the broker connection dropped meanwhile, the broker already holds the message for
        redelivery (it was never acked), so this is not an error to kill the service for: nameko would stop the
        whole container. The redelivery is absorbed by the inbox (or retried, for a handler that had failed)."""
        try:
            settle(message)
        except BROKER_CONNECTION_ERRORS as exc:
            note = f"could not {what} a message: the broker connection dropped; it will be redelivered"
            log.warning(note, extra={"fields": {"error": repr(exc)}})

    def park(self, message, reason: str, error: str) -> None:
        """Dead-letter a message that no retry can fix, then ack it so the consumer keeps going."""
        try:
            self._dead_letter(message, reason, error, deadletter.attempts_of(message.headers))
            self._ack(message)
        except Exception:
            log.exception("could not dead-letter a message; requeued")
            self._requeue(message)

    def _dead_letter(self, message, reason: str, error: str, attempts: int) -> None:
        headers = deadletter.dead_letter_headers(
            message.headers, reason, error, self.queue.name, message.delivery_info or {}
        )
        headers[deadletter.ATTEMPTS] = attempts
        self.bus.send_to_queue(
            deadletter.dead_letter_queue(self.service_name),
            message.body,
            headers,
            message.content_type,
            message.content_encoding,
        )
        metrics.DEAD_LETTERS.labels(reason).inc()
        log.error(
            "message dead-lettered",
            extra={"fields": {"reason": reason, "queue": self.queue.name, "error": error.splitlines()[-1][:500]}},
        )


event_consumer = EventConsumer.decorator


class ApiError(Exception):
    """An error a person caused, reported with a precise status and a machine-readable code."""

    status = 400
    code = "bad_request"

    def __init__(self, description: str, details: dict | list | None = None):
        super().__init__(description)
        self.description = description
        self.details = details


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unprocessable(ApiError):
    status = 422
    code = "unprocessable"


def json_response(payload, status: int = 200, headers: dict | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False, default=str),
        status=status,
        headers=headers or {},
        mimetype="application/json",
    )


def parse_json_body(request) -> dict:
    if not request.data:
        raise ApiError("the request body is empty; send a JSON object")
    try:
        body = json.loads(request.get_data(as_text=True))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError("the request body must be a JSON object")
    return body


class HttpEntrypoint(HttpRequestHandler):
    """`@http(...)`: errors become precise JSON responses, in one place.

    A service maps its domain errors to API errors with a class attribute, e.g.
    `http_errors = {CaseNotFound: NotFound, UnknownCategory: ApiError}`. Anything unmapped is a logged 500 that
    shows no trace to the caller.
    """

    def __init__(self, method, url, audit: bool | None = None, committed_status: int | None = None, **kwargs):
        # Every state change is audited; a read only when it is confidential (`audit=True`).
        self.audit = audit if audit is not None else method.upper() not in ("GET", "HEAD", "OPTIONS")
        # The status the route answers once its unit of work committed: its audit row is then written in that
        # transaction rather than in one of its own (`PendingAudit`). Declared only on the busiest routes.
        self.committed_status = committed_status if self.audit else None
        super().__init__(method, url, **kwargs)

    def setup(self):
        from gridlink.runtime.dependencies import Storage  # it imports this module

        super().setup()
        self.error_map: dict[type[Exception], type[ApiError]] = getattr(self.container.service_cls, "http_errors", {})
        # Mapped errors are the caller's fault: nameko logs them as warnings, not as errors with a traceback.
        self.expected_exceptions = (ApiError, ValidationError, *self.error_map)
        settings = self.container.config["GRIDLINK"]
        self.audit_trail = AuditTrail(settings.auth_secret, self._storage_database) if self.audit else None
        # Found once: looking through the container's dependencies on every request was 1 % of intake's requests.
        self._storage = next((d for d in self.container.dependencies if isinstance(d, Storage)), None)

    def _storage_database(self):
        # Read at each request, not at setup: the Storage dependency may be set up after this entrypoint.
        return self._storage.database if self._storage is not None else None

    def handle_request(self, request):
        pending = None
        if self.committed_status is not None and self.audit_trail is not None:
            pending = self.audit_trail.pend(request, self.committed_status)
        response = super().handle_request(request)
        metrics.HTTP_REQUESTS.labels(request.method, self.url, str(response.status_code)).inc()
        recorded = pending is not None and pending.written and pending.status == response.status_code
        if self.audit_trail is not None and not recorded:
            # Refused before any commit, or answered otherwise after it: the answer given is recorded too.
            self.audit_trail.record(request, response.status_code)
        return response

    def response_from_exception(self, exc):
        if isinstance(exc, ValidationError):
            exc = ApiError("the request has invalid fields", exc.messages)
        if not isinstance(exc, ApiError):
            for kind, api_error in self.error_map.items():
                if isinstance(exc, kind):
                    exc = api_error(str(exc))
                    break
        if database_unavailable(exc):
            # The database is restarting, failing over or refusing connections, dropped a pooled connection used
            # too recently to be pinged, or cancelled a statement that ran too long: nothing was committed, and the
            # caller may simply retry.
            return json_response(
                {"error": {"code": "unavailable", "description": "the database could not do this now; retry"}},
                503,
                {"Retry-After": "1"},
            )
        if isinstance(exc, ApiError):
            body = {"error": {"code": exc.code, "description": exc.description}}
            if exc.details:
                body["error"]["details"] = exc.details
            return json_response(body, exc.status)
        return json_response({"error": {"code": "internal", "description": "internal error; it has been logged"}}, 500)


http = HttpEntrypoint.decorator
