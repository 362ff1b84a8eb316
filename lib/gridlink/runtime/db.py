"""Database engines and the unit of work: a service's state change and its outgoing events commit together."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gridlink.contracts import Envelope, new_envelope
from gridlink.runtime.config import DEFAULT_PII_KEY
from gridlink.runtime.personal import seal_payload

log = logging.getLogger(__name__)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs: WAL and a busy timeout for SQLite, pre-ping for PostgreSQL."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # A replica rarely needs more than a few connections at once (eventlet workers share them); a small pool lets
    # many replicas share one PostgreSQL's max_connections. DB_POOL_SIZE raises it where needed.
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    return create_engine(url, pool_pre_ping=True, **kwargs)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC, so say so."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


class UnitOfWork:
    """One transaction. Services subclass it to add their repositories in `_open_repositories`.

    `publish` writes the event into the outbox inside the same transaction; the relay sends it after commit.
    When the work was caused by a consumed event, correlation and causation are carried over automatically.
    """

    def __init__(
        self,
        session_factory: sessionmaker,
        metadata: MetaData,
        source: str,
        on_commit: Callable[[], None],
        pii_key: str = DEFAULT_PII_KEY,
    ):
        self._session_factory = session_factory
        self._pii_key = pii_key
        self._outbox = metadata.tables["outbox"]
        self._inbox = metadata.tables["processed_events"]
        self._timers = metadata.tables["timers"]
        self.source = source
        self._on_commit = on_commit
        self.cause: Envelope | None = None
        self.session: Session
        self.published: list[Envelope] = []

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.published = []
        self._open_repositories(self.session)
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.rollback()
        self.session.close()

    def _open_repositories(self, session: Session) -> None:
        """Hook for subclasses."""

    def commit(self) -> None:
        self.session.commit()
        if self.published:
            self._on_commit()

    def rollback(self) -> None:
        self.session.rollback()

    def publish(self, event_type: str, payload: dict, correlation_id: str | None = None, version: int | None = None):
        if correlation_id is None:
            if self.cause is None:
                raise ValueError(f"{event_type}: a correlation_id is needed when no consumed event caused this work")
            correlation_id = self.cause.correlation_id
        envelope = new_envelope(
            type=event_type,
            source=self.source,
            payload=payload,
            correlation_id=correlation_id,
            causation_id=self.cause.event_id if self.cause else None,
            version=version,
        )
        self.session.execute(
            insert(self._outbox).values(
                event_id=envelope.event_id,
                event_type=envelope.type,
                exchange=f"{self.source}.events",
                correlation_id=envelope.correlation_id,
                body=json.dumps(self._sealed(envelope), ensure_ascii=False),
                created_at=datetime.now(UTC),
                attempts=0,
                unroutable=False,
            )
        )
        self.published.append(envelope)
        return envelope

    def _sealed(self, envelope: Envelope) -> dict:
        wire = envelope.to_wire()
        wire["payload"] = seal_payload(envelope.type, envelope.version, wire["payload"], self._pii_key)
        return wire

    def schedule(self, kind: str, key: str, due_at: datetime, payload: dict, correlation_id: str | None = None) -> None:
        """Set or move a durable timer in this transaction (see `timers.py`)."""
        from gridlink.runtime.timers import schedule

        if correlation_id is None and self.cause is not None:
            correlation_id = self.cause.correlation_id
        schedule(self.session, self._timers, kind, key, due_at, payload, correlation_id)

    def cancel_timer(self, kind: str, key: str) -> None:
        from gridlink.runtime.timers import cancel

        cancel(self.session, self._timers, kind, key)

    def claim_event(self, consumer: str, envelope: Envelope) -> bool:
        """Record that `consumer` handles this event; False when it already has (a redelivery or a replay)."""
        self.cause = envelope
        try:
            self.session.execute(
                insert(self._inbox).values(
                    consumer=consumer,
                    event_id=envelope.event_id,
                    event_type=envelope.type,
                    processed_at=datetime.now(UTC),
                )
            )
            self.session.flush()
        except IntegrityError:
            self.session.rollback()
            return False
        return True


class Database:
    """The engine, session factory and unit-of-work factory of one service."""

    def __init__(
        self,
        url: str,
        metadata: MetaData,
        source: str,
        uow_class: type[UnitOfWork] = UnitOfWork,
        on_commit: Callable[[], None] = lambda: None,
        pii_key: str = DEFAULT_PII_KEY,
        pool_size: int = 5,
    ):
        self.engine = make_engine(url) if url.startswith("sqlite") else make_engine(url, pool_size=pool_size)
        self.pii_key = pii_key
        self.metadata = metadata
        self.source = source
        self.uow_class = uow_class
        self.session_factory = sessionmaker(self.engine, expire_on_commit=False)
        self.on_commit = on_commit

    def uow(self) -> UnitOfWork:
        return self.uow_class(self.session_factory, self.metadata, self.source, lambda: self.on_commit(), self.pii_key)

    def handle(self, consumer: str, envelope: Envelope, handler: Callable[[UnitOfWork, Envelope], None]) -> bool:
        """Run `handler` for a consumed event exactly once per consumer: the inbox row commits with its effect.

        The handler receives the open unit of work and commits it; whatever it does not commit is rolled back,
        inbox row included. Returns False when the event had already been handled, so a redelivery or a replay
        has no second effect.
        """
        with self.uow() as uow:
            if not uow.claim_event(consumer, envelope):
                log.info("duplicate event ignored", extra={"fields": {"event_id": envelope.event_id}})
                return False
            handler(uow, envelope)
            return True

    def dispose(self) -> None:
        self.engine.dispose()
