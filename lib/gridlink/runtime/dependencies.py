"""nameko dependency providers: the service's database with its outbox relay, and log context per worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

from kombu import Connection
from nameko.extensions import DependencyProvider
from sqlalchemy import MetaData

from gridlink.contracts import Envelope
from gridlink.runtime import housekeeping, logs, metrics
from gridlink.runtime.audience import Audience
from gridlink.runtime.audit import PendingAudit, pending_audit
from gridlink.runtime.auth import Principal, TokenError, bearer_token, verify_token
from gridlink.runtime.bus import Bus
from gridlink.runtime.db import Database, UnitOfWork, ping
from gridlink.runtime.entrypoints import Forbidden, Unauthorized
from gridlink.runtime.handoff import OutboxHandoff
from gridlink.runtime.outbox import OutboxRelay
from gridlink.runtime.timers import TimerScanner

log = logging.getLogger(__name__)


class Storage(DependencyProvider):
    """Injects the service's `Database` and runs its outbox relay in a background green thread.

    A unit of work that commits events hands them to the relay and wakes it, so an event usually leaves within
    milliseconds of its commit, with one transaction (the mark) and no claim. Every `OUTBOX_RELAY_INTERVAL` seconds
    the relay also polls the table, for rows a crashed process (this one before a restart, or another replica)
    committed but never published.
    """

    # The statistics query (a count over the pending rows) only feeds two gauges that Prometheus scrapes every 15 s
    # or so; every 5 s is fresh enough, and saves an idle replica a query a second.
    STATS_INTERVAL = 5.0

    def __init__(self, metadata: MetaData, uow_class: type[UnitOfWork] = UnitOfWork, timers: dict | None = None):
        self.metadata = metadata
        self.uow_class = uow_class
        self.timer_handlers = timers or {}
        self._wakeup = threading.Event()
        self._running = False

    def setup(self):
        settings = self.container.config["GRIDLINK"]
        self.settings = settings
        owner = f"{socket.gethostname()}:{os.getpid()}"
        audience = Audience(settings.unheard_probe_seconds)  # shared by this process's units of work and relay
        # Only a process whose relay runs may lease its rows to itself: otherwise nobody would publish them until
        # the lease expired.
        self.database = Database(
            settings.database_url,
            self.metadata,
            settings.service,
            self.uow_class,
            handoff=OutboxHandoff(owner, wake=self._wakeup.set) if settings.relay_enabled else None,
            pii_key=settings.pii_key,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            audience=audience,
        )
        self.bus = Bus(settings.amqp_uri)
        self.relay = OutboxRelay(
            self.database.session_factory,
            self.metadata.tables["outbox"],
            self.bus,
            owner,
            batch=settings.relay_batch,
            handoff=self.database.handoff,
            mark_delay=settings.relay_mark_delay,
            audience=audience,
        )
        self.timers = TimerScanner(self.database, self.timer_handlers, owner)

    def start(self):
        if self.settings.relay_enabled:
            self._running = True
            self.container.spawn_managed_thread(self._relay_loop, identifier="outbox-relay")
        if self.timer_handlers:
            self._running = True
            self.container.spawn_managed_thread(self._timer_loop, identifier="timer-scanner")
        if self.settings.retention_days > 0:
            self._running = True
            self.container.spawn_managed_thread(self._housekeeping_loop, identifier="housekeeping")

    def stop(self):
        self._running = False
        self._wakeup.set()
        if self.settings.relay_enabled:
            try:
                self.relay.mark()  # what was published, so that no replica sends it again after the lease
            except Exception:
                log.exception("could not mark the last published outbox rows; they will be sent again")
        self.database.dispose()
        self.bus.close()

    def kill(self):
        self.stop()

    def _relay_loop(self):
        last_stats = last_poll = 0.0
        polled_full = False
        while self._running:
            # Cleared before the pass, so a commit during the pass wakes the next one at once (no lost wake-up).
            self._wakeup.clear()
            try:
                self.relay.relay_handed_off()
                # Polled on its interval, not on every wake-up: a busy process commits many times a second, and
                # the poll only finds rows whose hand-off was lost. A full batch means more are due: poll again.
                if polled_full or time.monotonic() - last_poll >= self.settings.relay_interval:
                    last_poll = time.monotonic()
                    polled_full = self.relay.relay_once() >= self.relay.batch
                self.relay.mark(force=False)
                if time.monotonic() - last_stats >= self.STATS_INTERVAL:
                    stats = self.relay.stats()
                    metrics.OUTBOX_PENDING.set(stats.pending)
                    metrics.OUTBOX_OLDEST_AGE.set(stats.oldest_age_seconds)
                    last_stats = time.monotonic()
            except Exception:
                log.exception("outbox relay pass failed; retrying")
                polled_full = False
                time.sleep(1.0)
            if not polled_full and not len(self.relay.handoff):
                # Everything due is done: sleep until the next commit, the next poll or the next mark.
                until_poll = last_poll + self.settings.relay_interval - time.monotonic()
                until_mark = self.relay.mark_due_in()
                self._wakeup.wait(max(0.0, until_poll if until_mark is None else min(until_poll, until_mark)))

    def _timer_loop(self):
        last_stats = 0.0
        while self._running:
            try:
                fired = self.timers.fire_due()
                if time.monotonic() - last_stats >= self.STATS_INTERVAL:
                    metrics.TIMER_LAG.set(self.timers.lag_seconds())
                    last_stats = time.monotonic()
            except Exception:
                log.exception("timer scan failed; retrying")
                fired = 0
            if fired == 0:
                time.sleep(self.settings.timer_interval)

    def _housekeeping_loop(self):
        # Every replica prunes on its own interval: the deletes are idempotent, and a second replica's pass finds
        # little left. The first pass waits one interval, so a restart loop never adds load.
        keep = timedelta(days=self.settings.retention_days)
        next_pass = time.monotonic() + self.settings.housekeeping_interval
        while self._running:
            if time.monotonic() < next_pass:
                time.sleep(min(1.0, next_pass - time.monotonic()))
                continue
            try:
                housekeeping.prune(self.database, datetime.now(UTC), keep)
            except Exception:
                log.exception("pruning the runtime tables failed; trying again next interval")
            next_pass = time.monotonic() + self.settings.housekeeping_interval

    def get_dependency(self, worker_ctx) -> ServiceStore:
        return ServiceStore(
            self.database,
            self.settings,
            f"{self.settings.service}.{worker_ctx.entrypoint.method_name}",
            pending_audit(worker_ctx),
        )


class ServiceStore:
    """What a worker sees as `self.storage`: units of work, idempotent handling, and readiness checks."""

    def __init__(self, database: Database, settings, consumer: str, pending: PendingAudit | None = None):
        self.database = database
        self.settings = settings
        self.amqp_uri = settings.amqp_uri
        self.consumer = consumer
        self._pending_audit = pending

    def uow(self) -> UnitOfWork:
        """A unit of work; for an HTTP request whose route writes its audit row with its change, that row too."""
        uow = self.database.uow()
        uow.audit_with(self._pending_audit)
        return uow

    def handle(self, envelope: Envelope, handler) -> bool:
        """Handle a consumed event once for this entrypoint (see `Database.handle`)."""
        return self.database.handle(self.consumer, envelope, handler)

    def handle_all(self, envelopes: list[Envelope], handler, together: bool = False) -> list[bool]:
        """Several consumed events in one transaction, each once (see `Database.handle_all`)."""
        return self.database.handle_all(self.consumer, envelopes, handler, together)

    def readiness(self) -> dict[str, str]:
        checks = {}
        for name, check in (("database", lambda: ping(self.database.engine)), ("broker", self._broker_answers)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # any failure means not ready; the reason is shown to the prober
                checks[name] = f"failed: {type(exc).__name__}: {exc}"[:300]
        return checks

    def _broker_answers(self, timeout: float = 2.0) -> None:
        with Connection(self.amqp_uri, connect_timeout=timeout) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)


class LogContext(DependencyProvider):
    """Puts the consumed event's type and correlation_id on every log line its worker writes."""

    def __init__(self):
        self._tokens: dict = {}

    def worker_setup(self, worker_ctx):
        fields = {"entrypoint": worker_ctx.entrypoint.method_name}
        first = worker_ctx.args[0] if worker_ctx.args else None
        if isinstance(first, list) and len(first) == 1:
            first = first[0]  # a batch of one reads like a single event
        if isinstance(first, Envelope):
            fields.update(event_type=first.type, event_id=first.event_id, correlation_id=first.correlation_id)
        elif isinstance(first, list):
            fields.update(batch_size=len(first))
        self._tokens[worker_ctx] = logs.push_context(**fields)

    def worker_teardown(self, worker_ctx):
        token = self._tokens.pop(worker_ctx, None)
        if token is not None:
            logs.pop_context(token)

    def get_dependency(self, worker_ctx):
        return logs.log_context


class Reference(DependencyProvider):
    """Reference data (grids, organisation, categories…) loaded once per process from the district's data files."""

    def __init__(self, loader):
        self.loader = loader

    def setup(self):
        self.value = self.loader(self.container.config["GRIDLINK"].data_dir)

    def get_dependency(self, worker_ctx):
        return self.value


class StaffAuth(DependencyProvider):
    """`self.auth.require(request, "grid_worker", …)` → the signed-in Principal, or a 401/403 ApiError."""

    def setup(self):
        self.secret = self.container.config["GRIDLINK"].auth_secret

    def get_dependency(self, worker_ctx):
        return Authenticator(self.secret)


class Authenticator:
    def __init__(self, secret: str):
        self.secret = secret

    def require(self, request, *roles: str) -> Principal:
        try:
            principal = verify_token(self.secret, bearer_token(request.headers.get("Authorization")))
        except TokenError as exc:
            raise Unauthorized(str(exc)) from None
        if roles and principal.role not in roles and principal.role != "admin":
            raise Forbidden(f"role {principal.role} may not do this; allowed: {', '.join(roles)}")
        return principal
