"""A Session that runs the statements it has seen pass through unchanged straight on the driver's cursor.

`Session.execute` costs about 170 µs of client CPU per statement here, of which the driver's own round trip is
about 50 (a `SELECT` of two bound values, measured in docs/performance.md): the rest is SQLAlchemy's ORM and Core
layers preparing parameters, an execution context, events and a result for what is, for the runtime's and the
repositories' prepared statements, the same SQL string with the caller's dict every time. A report costs some 20
statements on its way.

So the first execution of a statement goes through SQLAlchemy as usual, and this session looks at what it sent to
the cursor. When SQLAlchemy sent its compiled SQL as it is, the caller's values themselves (no type conversion, no
defaults, no expanded `IN` lists), and its result (if any) needed no conversion either, later executions of that
statement send the same SQL with the caller's dict on the session's connection, in its transaction, and answer
with an ordinary SQLAlchemy `Result` of the rows. Anything else — a list of parameter sets, execution options, a
statement that needed conversion, an engine someone listens to beyond the runtime's own statement count — takes
SQLAlchemy's path, unchanged. A driver error goes through SQLAlchemy's own handling (wrapped in its exception
classes, the pool invalidated on a disconnect), so callers see exactly what they saw before.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import Session

from gridlink.runtime import metrics

# Per dialect and statement (by identity): its plan, or None when it must take SQLAlchemy's path. An entry goes
# with its statement, so statements built per call come and go without piling up.
_PLANS: dict[tuple[str, int], Plan | None] = {}
_WATCHES: dict[tuple[str, int], weakref.ref] = {}


@dataclass(frozen=True)
class Plan:
    sql: str
    required: frozenset[str]  # the parameters SQLAlchemy sent: a call without one of them takes the slow path
    metadata: SimpleResultMetaData | None  # the result's columns, or None for a statement returning no rows


class LeanResult(IteratorResult):
    """The rows of a directly executed statement, with the cursor's rowcount as `CursorResult` has it."""

    rowcount: int = -1


class LeanSession(Session):
    def execute(self, statement, params=None, *args, **kwargs):
        if type(params) is list and len(params) == 1:
            params = params[0]  # one row of a bulk write: SQLAlchemy executes it as a single statement too
        if args or kwargs or type(params) is not dict or self.bind is None:
            return super().execute(statement, params, *args, **kwargs)
        key = (self.bind.dialect.name, id(statement))
        plan = _PLANS.get(key, False)
        if plan is False:
            result = super().execute(statement, params)
            _PLANS[key] = _plan(result, params)
            _WATCHES[key] = weakref.ref(statement, lambda _ref, key=key: _forget(key))
            return result
        if plan is None or not plan.required <= params.keys() or not self._direct_allowed():
            return super().execute(statement, params)
        return self._direct(plan, params)

    def _direct_allowed(self) -> bool:
        # Listeners see every statement on SQLAlchemy's path; the runtime's own counter is the one expected.
        dispatch = self.bind.dispatch
        return (
            len(dispatch.before_cursor_execute) <= 1
            and not dispatch.after_cursor_execute
            and not dispatch.before_execute
            and not dispatch.after_execute
        )

    def _direct(self, plan: Plan, params: dict[str, Any]) -> LeanResult:
        connection = self.connection()
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.execute(plan.sql, params)
            rows = cursor.fetchall() if plan.metadata is not None else []
        except Exception as exc:  # SQLAlchemy's handling raises its own wrapped exception
            connection._handle_dbapi_exception(exc, plan.sql, params, cursor, None)
            raise
        metrics.DB_STATEMENTS.inc()
        result = LeanResult(plan.metadata or _NO_COLUMNS, iter(rows))
        result.rowcount = cursor.rowcount
        cursor.close()
        return result


_NO_COLUMNS = SimpleResultMetaData(())


def _forget(key: tuple[str, int]) -> None:
    _PLANS.pop(key, None)
    _WATCHES.pop(key, None)


def _plan(result, params: dict[str, Any]) -> Plan | None:
    """A plan when SQLAlchemy sent the compiled SQL and the caller's own values, and returned rows as they came."""
    context = getattr(result, "context", None)
    compiled = getattr(context, "compiled", None)
    if compiled is None or context.executemany or compiled.positional or compiled._bind_processors:
        return None
    if context.statement != compiled.string or len(context.parameters) != 1:
        return None  # expanded IN lists, several rows in one INSERT, ...
    sent = context.parameters[0]
    if any(name not in params or value is not params[name] for name, value in sent.items()):
        return None  # a default or a converted value
    metadata = None
    if result.returns_rows:
        if any(processor is not None for processor in result._metadata._processors):
            return None
        metadata = SimpleResultMetaData(tuple(result.keys()))
    return Plan(compiled.string, frozenset(sent), metadata)
