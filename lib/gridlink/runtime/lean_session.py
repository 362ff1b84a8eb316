"""A Session that runs the statements it has seen pass through unchanged straight on the driver's cursor.

`Session.execute` costs about 170 µs of client CPU per statement here, of which the driver's own round trip is
about 50 (a `SELECT` of two bound values, measured in docs/performance.md): the rest is SQLAlchemy's ORM and Core
layers preparing parameters, an execution context, events and a result for what is, for the runtime's and the
repositories' prepared statements, the same SQL string with the caller's dict every time. A report costs some 20
statements on its way.

So the first execution of a statement goes through SQLAlchemy as usual, and this session looks at what it sent to
the cursor. When everything sent is the caller's own values, the caller's values through the statement's bind
processors (a JSON column's serialiser, a boolean's check), the elements of a list the caller gave for an `IN`
(one bind each), or values the statement itself holds (a literal, a constant `IN` list, a scalar column default),
and the result (if any) needed no conversion, later executions of that statement with the same parameter names
and lists of the same lengths send the same SQL on the session's connection, in its transaction, with the
caller's dict put through the same processors, its lists spread over their binds and completed with the same
constants, and answer with an ordinary SQLAlchemy `Result` of the rows.

The SQL SQLAlchemy makes of one statement depends on the parameter names (an `INSERT` or `UPDATE` of a table
names its columns after them) and on the length of each `IN` list, so each combination is learnt on its own first
execution and has its own plan: an update of the columns that changed, a lock of however many rows a batch has.
A statement keeps at most `MAX_VARIANTS` of them. Anything else — a list of parameter sets, execution options, a
value rendered into the SQL from the caller's parameters, a default computed per call, a result needing
conversion, an engine someone listens to beyond the runtime's own statement count — takes SQLAlchemy's path,
unchanged. A driver error goes through SQLAlchemy's own handling (wrapped in its exception classes, the pool
invalidated on a disconnect), so callers see exactly what they saw before.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine.result import IteratorResult, SimpleResultMetaData
from sqlalchemy.orm import Session

from gridlink.runtime import metrics

# Per dialect and statement (by identity): what was learnt of it. An entry goes with its statement, so statements
# built per call come and go without piling up.
_PLANS: dict[tuple[str, int], Learnt] = {}
_WATCHES: dict[tuple[str, int], weakref.ref] = {}
# Plans kept per statement: one per set of parameter names and lengths of the caller's lists. A repository's
# update of whichever columns changed has a few dozen at most; past this, the rest take SQLAlchemy's path.
MAX_VARIANTS = 64


@dataclass(frozen=True)
class Plan:
    sql: str
    constants: dict[str, Any]  # values the statement itself holds, as SQLAlchemy sent them
    processors: tuple[tuple[str, Callable[[Any], Any]], ...]  # the caller's values SQLAlchemy converts, and how
    # The caller's lists SQLAlchemy spreads over one bind per element (an expanding `IN`): the list's name, the
    # binds' names and the processor of each element.
    lists: tuple[tuple[str, tuple[str, ...], Callable[[Any], Any] | None], ...]
    metadata: SimpleResultMetaData | None  # the result's columns, or None for a statement returning no rows


@dataclass
class Learnt:
    """A statement's plans by variant (see `_variant`), None for a variant that takes SQLAlchemy's path."""

    lists: tuple[str, ...]  # the parameters the first execution expanded: their lengths are part of the variant
    plans: dict[Any, Plan | None]


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
        learnt = _PLANS.get(key)
        if learnt is None:
            result = super().execute(statement, params)
            lists = _lists(result, params)
            variant = _variant(params, lists)
            if variant is not None:
                _PLANS[key] = Learnt(lists, {variant: _plan(result, params, lists)})
                _WATCHES[key] = weakref.ref(statement, lambda _ref, key=key: _forget(key))
            return result
        variant = _variant(params, learnt.lists)
        plan = learnt.plans.get(variant, False)
        if plan is False:
            result = super().execute(statement, params)
            if variant is not None and len(learnt.plans) < MAX_VARIANTS:
                learnt.plans[variant] = _plan(result, params, learnt.lists)
            return result
        if plan is None or not self._direct_allowed():
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
        if plan.constants or plan.processors or plan.lists:
            params = {**plan.constants, **params}
            for name, process in plan.processors:
                params[name] = process(params[name])
            for name, binds, process in plan.lists:
                values = params.pop(name)
                params.update(zip(binds, values if process is None else map(process, values), strict=True))
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


def _lists(result, params: dict[str, Any]) -> tuple[str, ...]:
    """The caller's parameters that SQLAlchemy expanded into a bind per element in this execution."""
    expanded = getattr(getattr(result, "context", None), "_expanded_parameters", None) or {}
    return tuple(sorted(name for name in expanded if name in params))


def _variant(params: dict[str, Any], lists: tuple[str, ...]) -> Any:
    """What the SQL of an execution depends on: the parameter names, and the length of each list among them that
    the statement expands. None when such a parameter is not a list: SQLAlchemy's path says what it makes of it."""
    names = frozenset(params)
    if not lists:
        return names
    lengths = []
    for name in lists:
        value = params.get(name)
        if type(value) not in (list, tuple):
            return None
        lengths.append(len(value))
    return names, tuple(lengths)


def _plan(result, params: dict[str, Any], lists: tuple[str, ...]) -> Plan | None:
    """A plan when every value SQLAlchemy sent is the caller's (as it is, through the statement's bind processors,
    or an element of a list it expanded) or the statement's own, the SQL depends on no caller's value beyond the
    variant's names and lengths, and the rows came as they are."""
    context = getattr(result, "context", None)
    compiled = getattr(context, "compiled", None)
    if compiled is None or context.executemany or compiled.positional or len(context.parameters) != 1:
        return None
    if getattr(context, "_is_implicit_returning", False):
        return None  # SQLAlchemy reads the new row's key for `inserted_primary_key`, which a plain result lacks
    expansions = getattr(context, "_expanded_parameters", {})
    if _lists(result, params) != lists:
        return None  # expands other parameters than the statement's first execution did
    if not {compiled.bind_names[b] for b in compiled.literal_execute_params}.isdisjoint(params):
        return None  # the caller's value written into the SQL: the SQL varies with it
    expanded = {name: base for base, names in expansions.items() for name in names}
    defaults = {c.key: c.default for c in (*compiled.insert_prefetch, *compiled.update_prefetch)}
    if any(len(expansions[base]) != len(params[base]) for base in lists):
        return None  # a list of tuples, spread over a bind per member: its elements are not sent as given
    spread = {name: (base, i) for base in lists for i, name in enumerate(expansions[base])}
    processors, constants = [], {}
    for name, value in context.parameters[0].items():
        process = compiled._bind_processors.get(name)
        if name in spread:
            base, i = spread[name]
            if not _sent_as(value, params[base][i], compiled._bind_processors.get(base)):
                return None
        elif name in params:
            if not _sent_as(value, params[name], process):
                return None  # converted by something other than a bind processor
            if process is not None:
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
    spreads = tuple((base, tuple(expansions[base]), compiled._bind_processors.get(base)) for base in lists)
    return Plan(context.statement, constants, tuple(processors), spreads, metadata)


def _sent_as(sent: Any, given: Any, process: Callable[[Any], Any] | None) -> bool:
    """Whether SQLAlchemy sent the caller's value as it is, or as the statement's processor makes it."""
    return sent is given if process is None else sent == process(given)


def _constant(name: str, binds: dict, expanded: dict[str, str], defaults: dict) -> bool:
    """Whether SQLAlchemy's value for `name` comes from the statement itself, the same on every execution: a
    bound value (or an element of a list) it holds, from this statement object's own literals, or a scalar default."""
    if name in defaults:
        default = defaults[name]
        return default is not None and default.is_scalar  # a callable default computes a new value each time
    bind = binds.get(expanded.get(name, name))
    return bind is not None and bind.callable is None  # (the caller's lists and values were refused above)
