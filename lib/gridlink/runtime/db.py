"""Database engines and the unit of work: a service's state change and its outgoing events commit together."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, Insert, MetaData, Table, TextClause, bindparam, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, SessionTransaction, sessionmaker
from sqlalchemy.schema import sort_tables

from gridlink.contracts import Envelope, new_envelope
from gridlink.runtime import metrics
from gridlink.runtime.audience import Audience
from gridlink.runtime.config import DEFAULT_PII_KEY
from gridlink.runtime.handoff import Committed, OutboxHandoff
from gridlink.runtime.lean_session import LeanSession
from gridlink.runtime.personal import seal_payload

if TYPE_CHECKING:  # audit imports this module
    from gridlink.runtime.audit import PendingAudit

log = logging.getLogger(__name__)

T = TypeVar("T")

# The database's own operation failed (down, shutting down, refusing connections, pool exhausted, a deadlock or
# serialisation failure): not the caller's fault, and worth retrying. A programming error is not among them.
DATABASE_UNAVAILABLE = (OperationalError, DisconnectionError, PoolTimeout)

# Seconds waited before each new attempt of work done again while the database is unavailable: about 19 s in all,
# enough for a restart or a failover's switch-over. A caller with a deadline of its own (a lease) extends them.
UNAVAILABLE_PAUSES = (0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc` says the database could not do the work (see `DATABASE_UNAVAILABLE`), including a pooled
    connection it dropped that was used too recently to be pinged."""
    return isinstance(exc, DATABASE_UNAVAILABLE) or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


# SQLSTATEs that psycopg2 raises as an OperationalError while the server is up: a statement cancelled (by a
# statement timeout or an operator) and a lock timeout. Nothing was committed, as with an outage, but the failure
# may be the work's own: a query that always times out.
WORK_CANCELLED = frozenset({"57014", "55P03"})


def work_cancelled(exc: BaseException) -> bool:
    """Whether `exc` is the server cancelling the work or timing it out (`WORK_CANCELLED`)."""
    return getattr(getattr(exc, "orig", None), "pgcode", None) in WORK_CANCELLED


def while_unavailable(
    uow: UnitOfWork,
    work: Callable[[UnitOfWork], T],
    pauses: Iterable[float] = UNAVAILABLE_PAUSES,
    sleep: Callable[[float], None] | None = None,
) -> T:
    """`work(uow)`, which commits, done again after each pause while the database is unavailable; then raised.

    For work whose loss costs more than the wait: what a call outside our system returned (a message a provider
    took), which would otherwise be redone later, and the call with it. A commit whose answer was lost may have
    landed, so `work` must not take its first attempt's failure to mean nothing was written: its writes are
    conditional on what it read (as a delivery pass's saves are), or it reads again.
    """
    for pause in pauses:
        try:
            return work(uow)
        except Exception as exc:
            if not database_unavailable(exc):
                raise
            log.warning(
                "the database is unavailable; trying again in %s s", pause, extra={"fields": {"error": str(exc)}}
            )
            uow.rollback()
            (sleep or time.sleep)(pause)  # looked up now: eventlet's green sleep once the service has patched it
    return work(uow)  # the last attempt: whatever it raises is raised


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine with the settings each backend needs: WAL and a busy timeout for SQLite, a ping for PostgreSQL's
    pooled connections that have been idle a while."""
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

        count_statements(engine)
        return engine
    # A service's pool is sized to its concurrency (`DB_POOL_SIZE`, by default MAX_WORKERS + 2); the overflow only
    # absorbs a rare burst beyond it (a connection above the pool is closed when returned).
    kwargs.setdefault("pool_size", 5)
    kwargs.setdefault("max_overflow", 10)
    engine = create_engine(url, **kwargs)
    ping_when_idle(engine, PING_AFTER_IDLE_SECONDS)
    count_statements(engine)
    return engine


def count_statements(engine: Engine) -> None:
    """Count every statement on /metrics: statements per unit of work are what a service's CPU follows.

    An executemany with a list of parameter sets is one statement per set: psycopg2 sends each on its own round
    trip. (SQLAlchemy's own multi-row INSERT arrives here as one statement with one dict, and is counted once.)"""

    @event.listens_for(engine, "before_cursor_execute")
    def _counted(_conn, _cursor, _statement, parameters, _context, executemany):
        metrics.DB_STATEMENTS.inc(len(parameters) if executemany and isinstance(parameters, list | tuple) else 1)


# pool_pre_ping would cost a round trip (and ~0.3 ms of Python) on every checkout, that is every transaction. A
# connection checked in moments ago is alive but for a server restart in between, which the first statement then
# reveals: SQLAlchemy sees the disconnect, invalidates the whole pool, and the unit of work fails once (a consumed
# event is redelivered, a request may be retried). A connection that idled longer is pinged first, as before.
PING_AFTER_IDLE_SECONDS = 5.0


def ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    """Ping a pooled connection on checkout only when it has been idle for more than `idle_seconds`."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_conn, record):
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_conn, record, _proxy):
        checked_in_at = record.info.get("checked_in_at")  # absent on a connection just opened: no need
        if checked_in_at is None or time.monotonic() - checked_in_at <= idle_seconds:
            return
        try:
            cursor = dbapi_conn.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
        except engine.dialect.loaded_dbapi.Error as exc:
            # The pool discards this connection and checks out another (a fresh one if need be).
            raise DisconnectionError(f"the pooled connection is gone: {exc}") from exc


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything is stored in UTC, so say so."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def upsert_insert(table: Table, dialect: str) -> Insert:
    """The dialect's INSERT, which (unlike the generic one) can say ON CONFLICT.

    SQLAlchemy never caches these (`inherit_cache = False`): each execution compiles again (~0.5 ms). For a
    statement run per event, `upsert` below is the cached equivalent.
    """
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def upsert(
    table: Table,
    conflict: tuple[str, ...],
    update: tuple[str, ...] = (),
    rows: int = 1,
    returning: tuple[str, ...] = (),
) -> TextClause:
    """INSERT of every column but an autoincremented id, ON CONFLICT (`conflict`) DO UPDATE SET `update` from the
    row offered, or DO NOTHING without `update`; executed with a params dict of those columns, or for `rows` > 1
    with `numbered(rows)`. With `returning`, the rows it inserted (or updated) return those columns.

    Text with typed parameters, because SQLAlchemy caches its compiled form (keyed on the text), where it compiles
    a dialect's ON CONFLICT insert afresh every time. PostgreSQL and SQLite (3.35+) read the same SQL. Rows offered
    together must not share a conflict key when they update (PostgreSQL refuses to touch a row twice).
    """
    sql, binds = _insert_sql(table, rows)
    keys = ", ".join(f'"{name}"' for name in conflict)
    action = "DO UPDATE SET " + ", ".join(f'"{n}" = excluded."{n}"' for n in update) if update else "DO NOTHING"
    sql += f" ON CONFLICT ({keys}) {action}"
    if returning:
        sql += " RETURNING " + ", ".join(f'"{name}"' for name in returning)
    return text(sql).bindparams(*binds)


# The most rows one INSERT of `insert_all` writes: more go in several statements rather than one more cached
# statement per size. A consumer's batch writes about as many rows of a kind as it handled events (20 at most).
ROWS_PER_STATEMENT = 50


def insert_all(session: Session, table: Table, rows: list[dict]) -> None:
    """Insert `rows`, dicts of every column but an autoincremented id, in one statement (up to 50 rows).

    Its SQL never changes with the values, so SQLAlchemy caches it and the lean session sends it straight to the
    driver, where a list of rows would take SQLAlchemy's executemany path every time.
    """
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        session.execute(_insert_rows(table, len(chunk)), numbered(chunk) if len(chunk) > 1 else chunk[0])


@cache
def _insert_rows(table: Table, rows: int) -> TextClause:
    sql, binds = _insert_sql(table, rows)
    return text(sql).bindparams(*binds)


def _insert_sql(table: Table, rows: int) -> tuple[str, list]:
    columns = [c for c in table.columns if not (c.primary_key and c.autoincrement is True)]
    suffixes = [""] if rows == 1 else [f"_{i}" for i in range(rows)]
    names = ", ".join(f'"{c.name}"' for c in columns)
    values = ", ".join("(" + ", ".join(f":{c.name}{sfx}" for c in columns) + ")" for sfx in suffixes)
    binds = [bindparam(f"{c.name}{sfx}", type_=c.type) for sfx in suffixes for c in columns]
    return f'INSERT INTO "{table.name}" ({names}) VALUES {values}', binds


def update_all(
    session: Session, table: Table, key: str, columns: tuple[str, ...], rows: list[dict], expect: tuple[str, ...] = ()
) -> int:
    """PostgreSQL: set `columns` of several rows of `table` from `rows` in one statement (up to
    `ROWS_PER_STATEMENT` rows each), `UPDATE … FROM (VALUES …)`; returns how many rows it updated.

    Each row dict names its target by `_<key>` and holds its new `columns`; with `expect`, it also holds `_<column>`
    for each expected column, and the target is updated only if its stored value equals that (a compare-and-set:
    fewer rows updated than given says some had changed). Each target once: PostgreSQL updates a target matched
    twice only once, with either row's values. Values are cast to unbounded types, so that a NULL in every row is
    not taken for text and a value too long for its column is refused rather than cut short.
    """
    updated = 0
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start : start + ROWS_PER_STATEMENT]
        updated += session.execute(_update_rows(table, key, columns, expect, len(chunk)), numbered(chunk)).rowcount
    return updated


_UNBOUNDED = {datetime: "TIMESTAMP WITH TIME ZONE", int: "INTEGER", float: "DOUBLE PRECISION", bool: "BOOLEAN"}


@cache
def _update_rows(table: Table, key: str, columns: tuple[str, ...], expect: tuple[str, ...], rows: int) -> TextClause:
    fields = [(f"_{key}", table.c[key]), *((name, table.c[name]) for name in columns)]
    fields += [(f"_{name}", table.c[name]) for name in expect]
    types = {name: _UNBOUNDED.get(column.type.python_type, "TEXT") for name, column in fields}
    values = ", ".join(
        "(" + ", ".join(f"CAST(:{name}_{i} AS {types[name]})" for name, _ in fields) + ")" for i in range(rows)
    )
    names = ", ".join(f'"{name}"' for name, _ in fields)
    sets = ", ".join(f'"{name}" = v."{name}"' for name in columns)
    matches = " AND ".join(f'"{table.name}"."{name}" = v."_{name}"' for name in (key, *expect))
    sql = f'UPDATE "{table.name}" SET {sets} FROM (VALUES {values}) AS v({names}) WHERE {matches}'
    return text(sql).bindparams(
        *(bindparam(f"{name}_{i}", type_=column.type) for i in range(rows) for name, column in fields)
    )


def numbered(rows: list[dict]) -> dict:
    """The params of a several-row `upsert`, `insert_all` or `update_all`: each row's values suffixed with its
    position."""
    return {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}


# Built once per table and executed with a params dict: SQLAlchemy then reuses the statement's cache key and
# compiled form instead of building both again for every event, the runtime's most frequent statements.
@cache
def _inbox_claim(inbox: Table) -> TextClause:
    # A duplicate inserts nothing (rowcount 0) instead of raising: no rollback, so nothing else the unit of work
    # did is undone, and no exception to build and catch for every redelivery.
    return upsert(inbox, ("consumer", "event_id"))


@cache
def _inbox_claim_many(inbox: Table, rows: int) -> TextClause:
    """The inbox claim of `rows` events in one statement, returning the ids it claimed (the others were handled
    already). One cached statement per batch size."""
    return upsert(inbox, ("consumer", "event_id"), rows=rows, returning=("event_id",))


def ping(engine: Engine) -> None:
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))


# What a repository is given of its unit of work to hold rows until the commit: `UnitOfWork.insert_at_commit`
# and `UnitOfWork.write_held`.
AtCommit = Callable[[Table, list[dict], Iterable[str]], None]
WriteHeld = Callable[[str | None], None]


class UnitOfWork:
    """One transaction. Services subclass it to add their repositories in `_open_repositories`.

    `publish` writes the event into the outbox inside the same transaction; the relay sends it after commit.
    Outbox rows and timer changes are written at commit, each kind in as few statements as it takes (one, mostly):
    a handler that publishes five events and arms four timers costs two round trips, not nine. Nothing in a unit
    of work reads them back before it commits.
    With a `handoff`, the rows are written leased to this process's relay and handed to it once committed, so the
    relay need not claim them (see `handoff.py`); what is rolled back is never handed off.
    When the work was caused by a consumed event, correlation and causation are carried over automatically.
    """

    def __init__(
        self,
        session_factory: sessionmaker,
        metadata: MetaData,
        source: str,
        handoff: OutboxHandoff | None = None,
        pii_key: str = DEFAULT_PII_KEY,
        audience: Audience | None = None,
    ):
        self._session_factory = session_factory
        self._audience = audience
        self._pii_key = pii_key
        self._outbox = metadata.tables["outbox"]
        self._inbox = metadata.tables["processed_events"]
        self._timers = metadata.tables["timers"]
        self._audit_log = metadata.tables["audit_log"]
        self.source = source
        self._handoff = handoff
        self.cause: Envelope | None = None
        self.session: Session
        # Each published row with the transaction (savepoint, or the whole) it was written in.
        self._uncommitted: list[tuple[SessionTransaction, Committed]] = []
        # Outbox rows and timer changes to write at commit, in order, each with the transaction it was made in.
        self._writes: list[tuple[SessionTransaction, str, dict]] = []
        # What to run once the work is committed (`after_commit`), each with the transaction it was asked in.
        self._after_commit: list[tuple[SessionTransaction, Callable[[], None]]] = []
        # Keys (a person, a case) whose rows `insert_at_commit` holds back: a read of theirs writes them first.
        self._held: set[str] = set()
        # Set while handlers share this unit of work (`Database.handle_all`): their commits only count, and the
        # batch commits once at the end.
        self._deferred = False
        self.commits = 0
        # The HTTP request's audit row, written with the first commit that succeeds (see `PendingAudit`). Private, as
        # every runtime attribute here: subclasses name their repositories freely (mediation's is `audit`).
        self._pending_audit: PendingAudit | None = None

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.session.info["unit_of_work"] = self
        self._uncommitted = []
        self._writes = []
        self._after_commit = []
        self._held = set()
        self._open_repositories(self.session)
        return self

    def __exit__(self, *exc_info) -> None:
        self.session.rollback()  # what was not committed; forgets its published rows (see `_rolled_back`)
        self.session.close()

    def _open_repositories(self, session: Session) -> None:
        """Hook for subclasses."""

    def read_snapshot(self) -> None:
        """Make every read that follows in this unit of work see one snapshot of the database.

        PostgreSQL's default (READ COMMITTED) gives each statement its own: a view read in two queries (a summary,
        then its details) can show a summary older than the details committed in between. Call before the first
        read. (SQLite reads in WAL mode without a transaction; its reads are not made to share one.)"""
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})

    def commit(self) -> None:
        self.commits += 1
        if not self._deferred:
            self._commit_now()

    def _commit_now(self) -> None:
        self.write_pending()
        audit = self._pending_audit
        if audit is not None and not audit.written:
            insert_all(self.session, self._audit_log, [audit.final_row()])
        self.session.commit()
        if audit is not None:
            audit.written = True
        if self._uncommitted and self._handoff is not None:
            self._handoff.put(row for _, row in self._uncommitted)
        self._uncommitted = []
        callbacks, self._after_commit = self._after_commit, []
        for _, callback in callbacks:
            try:
                callback()
            except Exception:
                # The work is committed whatever a follow-up does; what it was for must be safe to lose (a durable
                # timer does it later), so it is logged, not raised to a caller that would think nothing happened.
                log.exception("a follow-up after commit failed")

    def audit_with(self, pending: PendingAudit | None) -> None:
        """Write this HTTP request's audit row with the first commit that succeeds (see `PendingAudit`)."""
        self._pending_audit = pending

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this work has committed, in this process; never if it (or the savepoint it was asked
        in) rolls back. For work that may be done sooner than a durable record of it would have it done: a
        process that dies first loses the callback, so what it does must also be recorded to happen anyway."""
        self._after_commit.append((self._transaction(), callback))

    def rollback(self) -> None:
        if self._deferred:
            # It would undo the other handlers' work too: the batch is abandoned, and each of its events is then
            # handled alone, where this rollback means what its handler meant.
            raise BatchAbandoned("a handler rolled back its work inside a batch")
        self.session.rollback()  # which forgets the rows published so far (see `_rolled_back`)

    def _rolled_back(self, transaction: SessionTransaction) -> None:
        """Forget the rows written in `transaction` or a savepoint inside it: their inserts are undone."""

        def inside(written_in: SessionTransaction | None) -> bool:
            while written_in is not None:
                if written_in is transaction:
                    return True
                written_in = written_in.parent
            return False

        self._uncommitted = [(tx, row) for tx, row in self._uncommitted if not inside(tx)]
        self._writes = [(tx, kind, params) for tx, kind, params in self._writes if not inside(tx)]
        self._after_commit = [(tx, callback) for tx, callback in self._after_commit if not inside(tx)]

    def _transaction(self) -> SessionTransaction:
        """The transaction (or savepoint) a change made now belongs to, begun if none is yet."""
        return self.session.get_nested_transaction() or self.session.get_transaction() or self.session.begin()

    def write_pending(self) -> None:
        """Write the outbox rows, timer changes and rows to insert at commit made so far (commit does; call it only
        to read them back)."""
        writes, self._writes = self._writes, []
        self._held.clear()
        rows = [params for _, kind, params in writes if kind == "outbox"]
        insert_all(self.session, self._outbox, rows)
        by_table: dict[Table, list[dict]] = {}
        for _, kind, params in writes:
            if kind == "insert":
                by_table.setdefault(params["table"], []).append(params["row"])
        for table in sort_tables(by_table):  # a table another refers to first: its rows may be what they refer to
            insert_all(self.session, table, by_table[table])
        timer_changes = [(kind, params) for _, kind, params in writes if kind in ("schedule", "cancel")]
        if timer_changes:
            from gridlink.runtime.timers import write

            write(self.session, self._timers, timer_changes)

    def publish(
        self, event_type: str, payload: dict, correlation_id: str | None = None, version: int | None = None
    ) -> Envelope | None:
        """The event, written to the outbox at commit; None, and nothing written, for a type published only for
        whoever binds it while no queue is bound to it (`audience.py`)."""
        if self._audience is not None and not self._audience.wanted(event_type):
            metrics.EVENTS_UNHEARD.labels(event_type).inc()
            return None
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
        now = datetime.now(UTC)
        row = {
            "event_id": envelope.event_id,
            "event_type": envelope.type,
            "exchange": f"{self.source}.events",
            "correlation_id": envelope.correlation_id,
            "body": json.dumps(self._sealed(envelope), ensure_ascii=False),
            "created_at": now,
            "claimed_by": None,
            "claim_expires_at": None,
            "published_at": None,
            "attempts": 0,
            "unroutable": False,
            "last_error": None,
        }
        if self._handoff is not None:
            # Leased from the start, so no poll (this replica's or another's) takes it while it is handed off.
            expires = now + self._handoff.lease
            row.update(claimed_by=self._handoff.owner, claim_expires_at=expires, attempts=1)
        # A savepoint rolled back later undoes this row (see `_rolled_back`): it is neither written nor handed off.
        written_in = self._transaction()
        self._writes.append((written_in, "outbox", row))
        if self._handoff is not None:
            committed = Committed(
                envelope.event_id, envelope.type, row["exchange"], envelope.correlation_id, row["body"], now, expires
            )
            self._uncommitted.append((written_in, committed))
        return envelope

    def _sealed(self, envelope: Envelope) -> dict:
        wire = envelope.to_wire()
        wire["payload"] = seal_payload(envelope.type, envelope.version, wire["payload"], self._pii_key)
        return wire

    def schedule(self, kind: str, key: str, due_at: datetime, payload: dict, correlation_id: str | None = None) -> None:
        """Set or move a durable timer in this transaction (see `timers.py`)."""
        from gridlink.runtime.timers import timer_row

        if correlation_id is None and self.cause is not None:
            correlation_id = self.cause.correlation_id
        self._writes.append((self._transaction(), "schedule", timer_row(kind, key, due_at, payload, correlation_id)))

    def cancel_timer(self, kind: str, key: str) -> None:
        self._writes.append((self._transaction(), "cancel", {"kind": kind, "key": key}))

    def insert_at_commit(self, table: Table, rows: list[dict], held_for: Iterable[str] = ()) -> None:
        """Insert `rows` (as `insert_all` takes them) when this work commits, in one statement with the other rows
        for `table` then: for records nothing reads back before the commit, such as what each handler of a batch
        did. Like the outbox rows, they are forgotten if the savepoint they were given in rolls back.

        Rows a later read of the same work may need (a person's messages, a case's history) name `held_for` the
        keys that read is for; the repository calls `write_held(key)` before it, which writes them then."""
        written_in = self._transaction()
        self._writes += [(written_in, "insert", {"table": table, "row": row}) for row in rows]
        self._held.update(held_for)

    def write_held(self, key: str | None = None) -> None:
        """Before a read of `key`'s rows (anyone's, with None): write the rows `insert_at_commit` holds for it, so
        that the read sees them, as it would have had they been inserted at once."""
        if self._held and (key is None or key in self._held):
            self.write_pending()

    def claim_event(self, consumer: str, envelope: Envelope) -> bool:
        """Record that `consumer` handles this event; False when it already has (a redelivery or a replay)."""
        self.cause = envelope
        claimed = self.session.execute(
            _inbox_claim(self._inbox),
            {
                "consumer": consumer,
                "event_id": envelope.event_id,
                "event_type": envelope.type,
                "processed_at": datetime.now(UTC),
            },
        )
        return claimed.rowcount == 1

    def claim_events(self, consumer: str, envelopes: list[Envelope]) -> set[str]:
        """`claim_event` for several events in one statement: the ids of those not handled before."""
        now = datetime.now(UTC)
        rows = [
            {"consumer": consumer, "event_id": e.event_id, "event_type": e.type, "processed_at": now} for e in envelopes
        ]
        return set(self.session.execute(_inbox_claim_many(self._inbox, len(rows)), numbered(rows)).scalars())


class BatchAbandoned(RuntimeError):
    """A batch of events could not be handled together; nothing of it was committed (see `Database.handle_all`)."""


def _forget_rolled_back_rows(session: Session, transaction: SessionTransaction) -> None:
    """A savepoint (or the whole transaction) rolled back: its outbox rows are gone, so are their hand-offs."""
    unit_of_work = session.info.get("unit_of_work")
    if unit_of_work is not None:
        unit_of_work._rolled_back(transaction)


class Database:
    """The engine, session factory and unit-of-work factory of one service."""

    def __init__(
        self,
        url: str,
        metadata: MetaData,
        source: str,
        uow_class: type[UnitOfWork] = UnitOfWork,
        handoff: OutboxHandoff | None = None,
        pii_key: str = DEFAULT_PII_KEY,
        pool_size: int = 5,
        max_overflow: int = 10,
        audience: Audience | None = None,
    ):
        self.engine = (
            make_engine(url)
            if url.startswith("sqlite")
            else make_engine(url, pool_size=pool_size, max_overflow=max_overflow)
        )
        self.pii_key = pii_key
        self.metadata = metadata
        self.source = source
        self.uow_class = uow_class
        self.session_factory = sessionmaker(self.engine, class_=LeanSession, expire_on_commit=False)
        event.listen(self.session_factory, "after_soft_rollback", _forget_rolled_back_rows)
        self.handoff = handoff
        self.audience = audience

    def uow(self) -> UnitOfWork:
        return self.uow_class(
            self.session_factory, self.metadata, self.source, self.handoff, self.pii_key, audience=self.audience
        )

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

    def handle_all(
        self, consumer: str, envelopes: list[Envelope], handler: Callable, together: bool = False
    ) -> list[bool]:
        """`handle` for several events in one transaction: one commit (and one relay hand-off) instead of one per
        event, which is most of an event's cost when the handler itself is small. `handler(uow, envelope)` runs
        per event; with `together`, `handler(uow, envelopes)` once, for those not handled before (it may then
        share reads and writes between them; it publishes with explicit correlation ids).

        All or nothing: if a handler raises, rolls back or does not commit, nothing is committed and
        `BatchAbandoned` (or the handler's error) propagates; the caller then handles each event alone, where
        that handler's outcome is its own. Returns, per envelope in order, False for one already handled.
        """
        if len(envelopes) == 1:  # alone, exactly as `handle`: a handler may roll back or not commit
            alone = (lambda uow, envelope: handler(uow, [envelope])) if together else handler
            return [self.handle(consumer, envelopes[0], alone)]
        handled = [False] * len(envelopes)
        # Rows a handler locks are locked until the batch commits: taking the cases in one order (stable, so a
        # case's own events keep theirs) means two replicas' batches wait for each other instead of deadlocking.
        order = sorted(range(len(envelopes)), key=lambda i: envelopes[i].correlation_id)
        with self.uow() as uow:
            uow._deferred = True
            unclaimed = uow.claim_events(consumer, envelopes)
            fresh = []
            for i in order:
                if envelopes[i].event_id in unclaimed:
                    unclaimed.discard(envelopes[i].event_id)  # a second copy in this batch is a duplicate too
                    handled[i] = True
                    fresh.append(envelopes[i])
                else:
                    log.info("duplicate event ignored", extra={"fields": {"event_id": envelopes[i].event_id}})
            calls = [(envelope, envelope) for envelope in fresh]  # (the cause to publish under, the work)
            if together:
                calls = [(None, fresh)] if fresh else []
            for cause, work in calls:
                uow.cause = cause
                commits = uow.commits
                handler(uow, work)
                if uow.commits == commits:
                    raise BatchAbandoned(f"the handler of {consumer} did not commit")
            uow._deferred = False
            uow._commit_now()
        return handled

    def dispose(self) -> None:
        self.engine.dispose()
