"""A Session that runs the statements it has seen pass through unchanged straight on the driver's cursor.

`Session.execute` costs about 170 µs of client CPU per statement here, of which the driver's own round trip is
about 50 (a `SELECT` of two bound values, measured in docs/performance.md): the rest is SQLAlchemy's ORM and Core
layers preparing parameters, an execution context, events and a result for what is, for the runtime's and the
repositories' prepared statements, the same SQL string with the caller's dict every time. A report costs some 20
statements on its way.

So the first execution of a statement goes through SQLAlchemy as usual, and this session looks at what it sent to
the cursor. When everything sent is the caller's own values, the caller's values through the statement's bind
processors (a JSON column's serialiser, a boolean's check), or values the statement itself holds (a literal, a
constant `IN` list, a scalar column default), and the result (if any) needed no conversion, later executions of
that statement with the same parameter names send the same SQL on the session's connection, in its transaction,
with the caller's dict put through the same processors and completed with the same constants, and answer with an
ordinary SQLAlchemy `Result` of the rows. Anything else — a list of parameter sets, execution options, an `IN` list
or a value rendered from the caller's parameters (the SQL changes with them), a default computed per call, a
result needing conversion, other parameter names than the first call's (an `INSERT` of the table names its columns
from them), an engine someone listens to beyond the runtime's own statement count — takes SQLAlchemy's path,
unchanged. A driver error goes through SQLAlchemy's own handling (wrapped in its exception
classes, the pool invalidated on a disconnect), so callers see exactly what they saw before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
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
    keys: frozenset[str]  # the caller's parameter names when it was learnt: other names take SQLAlchemy's path
    constants: dict[str, Any]  # values the statement itself holds, as SQLAlchemy sent them
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]  # the caller's values SQLAlchemy converts, and how
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
        if plan is None or params.keys() != plan.keys or not self._direct_allowed():
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
        if plan.constants or plan.processors:
            params = {**plan.constants, **params}
            for name, process in plan.processors:
                params[name] = process(params[name])
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
    """A plan when every value SQLAlchemy sent is the caller's (as it is, or through the statement's bind
    processors) or the statement's own, the SQL does not depend on the caller's values, and the rows came as they
    are."""
    context = getattr(result, "context", None)
    compiled = getattr(context, "compiled", None)
    if compiled is None or context.executemany or compiled.positional or len(context.parameters) != 1:
        return None
    if getattr(context, "_is_implicit_returning", False):
        return None  # SQLAlchemy reads the new row's key for `inserted_primary_key`, which a plain result lacks
    rendered = {compiled.bind_names[b] for b in (*compiled.literal_execute_params, *compiled.post_compile_params)}
    if not rendered.isdisjoint(params):
        return None  # the caller's list expanded, or its value written into the SQL: the SQL varies with it
    expanded = {name: base for base, names in getattr(context, "_expanded_parameters", {}).items() for name in names}
    defaults = {c.key: c.default for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    processors, constants = [], {}
    for name, value in context.parameters[0].items():
        process = compiled._bind_processors.get(name)
        if name in params:
            if process is None and value is not params[name]:
                return None  # converted by something other than a bind processor
            if process is not None:
                if value != process(params[name]):
                    return None
                processors.append((name, process))
        elif _constant(name, compiled.binds, expanded, defaults):
            constants[name] = value
        else:
            return None  # a value computed for this call: a default, a callable
    metadata = None
    if result.returns_rows:
        if any(processor is not None for processor in result._metadata._processors):
            return None
        metadata = SimpleResultMetaData(tuple(result.keys()))
    return Plan(context.statement, frozenset(params), constants, tuple(processors), metadata)


def _constant(name: str, binds: dict, expanded: dict[str, str], defaults: dict) -> bool:
    """Whether SQLAlchemy's value for `name` comes from the statement itself, the same on every execution: a
    bound value (or an element of a list) it holds, from this statement object's own literals, or a scalar default."""
    if name in defaults:
        default = defaults[name]
        return default is not None and default.is_scalar  # a callable default computes a new value each time
    bind = binds.get(expanded.get(name, name))
    return bind is not None and bind.callable is None  # (the caller's lists and values were refused above)
