"""console's service layer: record what the bus says, and answer what a person asks. No HTTP and no nameko here.

A read is always limited to `scope`, the organisation-code prefix the signed-in person covers (None: the district).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from console.adapters.dispatch import DispatchClient
from console.adapters.notification import NotificationClient
from console.adapters.reference import ConsoleReference
from console.adapters.repository import ConsoleUnitOfWork
from console.adapters.staff_api import StaffAnswer
from console.domain import figures
from console.domain.access import check_action
from console.domain.cases import CaseSummary, RecordedEvent, Timeline, advance, project
from gridlink.contracts import Envelope
from gridlink.runtime.db import BatchAbandoned


class CaseNotFound(LookupError):
    """No case with that correlation_id in the console's read model, or not in the viewer's scope."""


class GridNotFound(LookupError):
    """No grid with that code on the map, or not in the viewer's scope."""


def record_event(uow: ConsoleUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """Keep the event and fold it into its case's summary, in one transaction."""
    record_events(uow, [event], now)


def record_events(uow: ConsoleUnitOfWork, events: list[Envelope], now: datetime | None = None) -> None:
    """Keep the events and fold each into its case's summary, in one transaction.

    The newest events of a case are folded into the stored summary alone; one that arrived out of order (or a
    resumption) refolds the case from all its events, which gives the same summary whatever the arrival order.
    """
    now = now or datetime.now(UTC)
    by_case: dict[str, list[Envelope]] = {}
    for event in events:
        by_case.setdefault(event.correlation_id, []).append(event)
    if len(events) == 1:  # alone, an event costs two statements its own way (a lock, then its insert with its change)
        _record_one(uow, events[0], now)
    else:
        _record_together(uow, by_case, now)
    uow.commit()


def _record_together(uow: ConsoleUnitOfWork, by_case: dict[str, list[Envelope]], now: datetime) -> None:
    """A batch's events: a blank row for each case not known yet and one lock for all the batch's cases, one insert
    for all its events, then per case its fold (the newest events of a known case, most of a batch, or a new case
    from nothing) or a refold from its stored events (one arrived out of order, or a resumption); the cases'
    changes are written together at the end.

    The blank rows come first, in one statement, so that no batch ever finds a case missing that another worker
    is creating: it waits for that worker's commit, then finds the case and folds into it. (The batch used to
    insert its new cases after its read, and was abandoned when another worker had inserted one meanwhile: at the
    start of a drain, when the console's `report_accepted`, `case_assigned` and `message_sent` batches hold the
    same new cases, up to a hundred batches were.) Every lock is taken in the batch's order of cases
    (`Database.handle_all` sorts it), the blank rows' and then the others', so that two workers' batches wait for
    each other rather than deadlock."""
    created = uow.cases.add_blank(list(by_case))
    stored = uow.cases.all_for_update(list(by_case))
    if set(by_case) - set(stored):  # only if a case were deleted meanwhile: each event alone then
        raise BatchAbandoned(f"cases {sorted(set(by_case) - set(stored))} vanished while the batch recorded them")
    arrived: list[tuple[Envelope, str | None]] = []
    written: list[tuple[str, CaseSummary | None, CaseSummary | None, bool]] = []
    for key, group in by_case.items():
        existing = None if key in created else stored[key]
        newest = _fold_newest(existing, group)
        if newest is None:  # refolded below, once its events are stored
            case_arrived = _with_grids(existing, group)
            case = None
        else:
            case, case_arrived = newest
        arrived += case_arrived
        gridless = any(grid is None for _, grid in case_arrived)
        written.append((key, existing, case, gridless or (existing is not None and existing.grid_code is None)))
    uow.events.add_all(arrived, now)
    updated: list[tuple[CaseSummary, CaseSummary]] = []
    for key, _existing, case, grid_learnt in written:
        if case is None:
            case = project(key, uow.events.for_correlation(key))
        updated.append((case, stored[key]))  # a new case's stored row is its blank one
        if case.grid_code and grid_learnt:
            # Once a case's grid is known, all its events carry it (see `_record_one`).
            uow.events.fill_grid(key, case.grid_code)
    uow.cases.update_all(updated)


def _with_grids(existing: CaseSummary | None, group: list[Envelope]) -> list[tuple[Envelope, str | None]]:
    """The events with the grid codes they are stored with when their case is refolded: their own, or the case's."""
    known = existing.grid_code if existing else None
    return [(event, event.payload.get("grid_code") or known) for event in group]


def _fold_newest(
    existing: CaseSummary | None, group: list[Envelope]
) -> tuple[CaseSummary, list[tuple[Envelope, str | None]]] | None:
    """The case with each of `group` folded in (from nothing for a case not known yet), and the events with their
    grid codes; None when one of them is not the case's newest (it needs a refold)."""
    case, arrived = existing, []
    for event in group:
        grid_code = event.payload.get("grid_code") or (case.grid_code if case else None)
        advanced = advance(case, _arriving(event, grid_code))
        if advanced is None:
            return None
        case = advanced
        arrived.append((event, grid_code))
    return case, arrived


def _record_one(uow: ConsoleUnitOfWork, event: Envelope, now: datetime) -> None:
    key = event.correlation_id
    existing = uow.cases.get_for_update(key)
    grid_code = event.payload.get("grid_code") or (existing.grid_code if existing else None)
    case = advance(existing, _arriving(event, grid_code))
    if existing is not None and case is not None:
        # The newest event of a known case, by far the most common: stored together with what it changed.
        uow.events.add(event, grid_code, now, case_changes=uow.cases.changes(case, existing))
    else:
        uow.events.add(event, grid_code, now)
        case = case or project(key, uow.events.for_correlation(key))
        if existing is None and not uow.cases.add(case):
            # Another worker created the case after our read found no row to lock: refold under its lock.
            existing = uow.cases.get_for_update(key)
            case = project(key, uow.events.for_correlation(key))
        if existing is not None:
            uow.cases.update(case, existing)
    # Once a case's grid is known, all its events carry it: only this event, or all of them when the grid was
    # unknown until now, may lack it.
    if case.grid_code and (grid_code is None or (existing is not None and existing.grid_code is None)):
        uow.events.fill_grid(key, case.grid_code)


def _arriving(event: Envelope, grid_code: str | None) -> RecordedEvent:
    return RecordedEvent(
        seq=None,
        event_id=event.event_id,
        type=event.type,
        source=event.source,
        correlation_id=event.correlation_id,
        occurred_at=event.occurred_at,
        payload=event.payload,
        grid_code=grid_code,
    )


def in_scope(scope: str | None, grid_code: str | None) -> bool:
    return scope is None or bool(grid_code and grid_code.startswith(scope))


def timeline(
    uow: ConsoleUnitOfWork, key: str, scope: str | None, notification: NotificationClient, token: str
) -> tuple[Timeline, list[dict]]:
    """The case view: the summary, every event of its correlation_id, the messages notification sent for it (read
    with the person's own token, so notification decides what they may see), and the actions taken through the
    console."""
    with uow:
        uow.read_snapshot()  # the summary and the events it folds, as of one moment
        case = uow.cases.get(key)
        if case is None or not in_scope(scope, case.grid_code):
            raise CaseNotFound(f"no case {key!r} that you may see")
        view = Timeline(case, uow.events.for_correlation(case.correlation_id))
        log = uow.actions.for_correlation(case.correlation_id)
    # Asked after the read transaction, so no database connection waits on notification's answer.
    view.messages = notification.case_messages(case.correlation_id, token)
    return view, log


def board(uow: ConsoleUnitOfWork, scope: str | None, limit: int = 50) -> tuple[list[RecordedEvent], int]:
    """The newest events in scope, newest first, and the sequence number a live stream should resume after."""
    with uow:
        return uow.events.recent(scope, limit), uow.events.last_seq()


def events_since(uow: ConsoleUnitOfWork, after_seq: int, scope: str | None, limit: int = 200) -> list[RecordedEvent]:
    with uow:
        return uow.events.since(after_seq, scope, limit)


def grid_map(uow: ConsoleUnitOfWork, scope: str | None, metric: str) -> dict[str, figures.GridFigures]:
    figures.check_metric(metric)
    with uow:
        return figures.grid_figures(uow.cases.tallies(scope))


@dataclass(frozen=True)
class GridDetail:
    code: str
    name: str
    cases: list[CaseSummary]
    staff: tuple


def grid_detail(uow: ConsoleUnitOfWork, ref: ConsoleReference, code: str, scope: str | None) -> GridDetail:
    grid = ref.grids.get(code)
    if grid is None or not in_scope(scope, code):
        raise GridNotFound(f"no grid {code!r} that you may see")
    with uow:
        found = uow.cases.find(scope, grid_code=code, limit=100)
    return GridDetail(code, grid.name, found, ref.staff_by_grid.get(code, ()))


def supervision(uow: ConsoleUnitOfWork, scope: str | None) -> figures.SupervisionBoard:
    with uow:
        return figures.supervision_board(uow.cases.find(scope, open_only=True, attention_only=True))


def performance(
    uow: ConsoleUnitOfWork, ref: ConsoleReference, scope: str | None, level: str, period: figures.Period
) -> list[figures.UnitFigures]:
    if level not in figures.REPORT_LEVELS:
        raise figures.BadQuery(f"level must be one of {', '.join(figures.REPORT_LEVELS)}, not {level!r}")
    with uow:
        found = uow.cases.find(scope, reported=period.bounds())
    return figures.performance(found, level, period, ref.names(level, scope))


def act(
    uow: ConsoleUnitOfWork,
    dispatch: DispatchClient,
    *,
    key: str,
    action: str,
    reason: str,
    user_id: str,
    role: str,
    token: str,
    scope: str | None,
    now: datetime | None = None,
) -> StaffAnswer:
    """Ask dispatch to supervise or escalate a case for this person, and log what was asked and answered."""
    with uow:
        case = uow.cases.get(key)
        if case is None or not in_scope(scope, case.grid_code):
            raise CaseNotFound(f"no case {key!r} that you may see")
        check_action(role, case, action)
    answer = dispatch.act(case.case_id, action, reason, token)
    with uow:
        uow.actions.add(
            at=now or datetime.now(UTC),
            user_id=user_id,
            role=role,
            correlation_id=case.correlation_id,
            case_id=case.case_id,
            action=action,
            reason=reason,
            status=answer.status,
            answer=json.dumps(answer.body, ensure_ascii=False)[:2000],
        )
        uow.commit()
    return answer
