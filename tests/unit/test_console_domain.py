"""The console's domain with no I/O: folding a case from its events in any order, the map's colours, the
supervision board, the performance report and its CSV, the map projection, and who may do what."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from console.domain.access import NotAllowed, UnknownAction, allowed_actions, check_action
from console.domain.cases import CONSUMED, CaseSummary, RecordedEvent, advance, describe, project
from console.domain.figures import (
    BadQuery,
    CaseTally,
    GridFigures,
    Period,
    grid_figures,
    performance,
    performance_csv,
    supervision_board,
)
from console.domain.mapview import project as project_map
from gridlink.refdata import load_grid_map

GRID = "150302001001001"
T0 = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def ev(seq: int, kind: str, minutes: int, **payload) -> RecordedEvent:
    base = {"case_id": "C1", "report_id": "R1", "tracking_code": "HB-1", "grid_code": GRID}
    return RecordedEvent(seq, f"e{seq}", kind, "dispatch", "R1", T0 + timedelta(minutes=minutes), {**base, **payload})


def lifecycle() -> list[RecordedEvent]:
    deadline = T0 + timedelta(days=1)
    return [
        ev(
            1,
            "report_accepted",
            0,
            category_kind="general",
            channel="app",
            description="路灯不亮",
            community_code=GRID[:12],
            sub_centre_code=GRID[:9],
            submitted_at=T0,
        ),
        ev(2, "case_assigned", 1, assignee_id="S0004", deadline_at=deadline, tier="grid", unit_code=GRID),
        ev(3, "case_overdue", 60 * 25, stage="resolution", deadline_at=deadline, tier="grid"),
        ev(
            4,
            "case_escalated",
            60 * 26,
            tier="community",
            unit_code=GRID[:12],
            assignee_id="S0100",
            from_tier="grid",
            reason="overdue",
            deadline_at=deadline + timedelta(days=2),
        ),
        ev(5, "case_resolved", 60 * 30, resolved_by="S0100", resolution="换了灯泡", tier="community"),
        ev(6, "case_evaluated", 60 * 31, rating="basically_satisfied", by_default=False, tier="community"),
    ]


def test_a_case_folds_the_same_whatever_order_its_events_arrive_in():
    events = lifecycle()
    expected = project("R1", events)
    for order in itertools.islice(itertools.permutations(events), 0, None, 37):
        assert project("R1", list(order)) == expected
    assert expected.state == "evaluated" and expected.rating == "basically_satisfied"
    assert expected.tier == "community" and expected.unit_code == GRID[:12] and expected.escalations == 1
    assert expected.was_overdue and not expected.overdue  # escalation gave a new deadline; resolution ended it
    assert expected.resolved_on_time is True  # resolved before the escalated deadline
    assert (expected.community_code, expected.sub_centre_code) == (GRID[:12], GRID[:9])


def suspended_lifecycle() -> list[RecordedEvent]:
    """A case suspended and resumed, with a notification that happened at the same moment as the assignment."""
    first, assigned, *_ = lifecycle()
    return [
        first,
        assigned,
        ev(7, "message_sent", 1, template_code="case_assigned", recipient_id="S0004", channel="inbox"),
        ev(8, "case_accepted", 2, accepted_by="S0004", deadline_at=T0 + timedelta(days=1)),
        ev(9, "case_suspended", 3, suspended_by="S0004", reason="rain"),
        ev(10, "case_supervised", 4, supervised_by="S0200", reason="why"),
        ev(11, "case_resumed", 5, resumed_by="S0004", deadline_at=T0 + timedelta(days=2)),
        ev(12, "case_resolved", 6, resolved_by="S0004", resolution="done"),
    ]


@pytest.mark.parametrize("events", [lifecycle(), suspended_lifecycle()], ids=["escalated", "suspended"])
def test_folding_each_arriving_event_into_the_summary_gives_the_refold_of_all_of_them(events):
    """What record_event does: `advance` the stored summary, or refold with `project` when it cannot."""
    orders = itertools.islice(itertools.permutations(events), 0, None, 41)
    for order in [events, events[::-1], *orders]:
        stored, arrived = None, []
        for seq, event in enumerate(order, 1):
            arrived.append(RecordedEvent(seq, event.event_id, event.type, event.source, "R1", event.occurred_at,
                                         event.payload))  # fmt: skip
            stored = advance(stored, arrived[-1]) or project("R1", arrived)
            assert stored == project("R1", arrived), [e.type for e in arrived]
    assert stored.state == ("evaluated" if events[-1].type == "case_evaluated" else "resolved")


def test_only_an_event_older_than_the_summary_or_a_resumption_needs_the_refold():
    report, assigned, overdue, *_ = lifecycle()
    case = project("R1", [report, assigned])
    assert advance(case, overdue).overdue and advance(None, assigned).state == "assigned"
    assert advance(case, report) is None  # happened before the assignment already folded
    assert advance(project("R1", [assigned]), report) is None
    assert advance(case, ev(11, "case_resumed", 60, resumed_by="S0004")) is None  # the state before it is not kept
    assert advance(case, overdue) is not case and case.overdue is False  # the stored summary is not changed


def test_an_overdue_case_stays_overdue_until_something_moves_it():
    events = lifecycle()[:3]
    case = project("R1", events)
    assert case.is_open and case.overdue and case.state == "assigned"
    late = project("R1", [*events, ev(9, "case_resolved", 60 * 48, resolved_by="S0004", resolution="done")])
    assert not late.overdue and late.was_overdue and late.resolved_on_time is False


def test_a_case_known_only_from_a_later_event_still_finds_its_units():
    case = project("R1", [ev(2, "case_assigned", 1, assignee_id="S0004", deadline_at=T0, unit_code=GRID)])
    assert case.grid_code == GRID and case.sub_centre_code == GRID[:9] and case.reported_at is None


def test_every_consumed_event_has_a_line_for_the_board():
    assert describe(lifecycle()[3]) == "escalated (上报) grid → community: overdue"
    assert describe(ev(7, "something_new", 0)) == "something new"
    for _, kind in CONSUMED:  # none falls back to its bare type name
        assert describe(ev(7, kind, 0)) != kind.replace("_", " ")


def summary(grid: str = GRID, **fields) -> CaseSummary:
    return CaseSummary(correlation_id=fields.pop("cid", "R"), grid_code=grid, community_code=grid[:12],
                       sub_centre_code=grid[:9], **fields)  # fmt: skip


def tally(grid: str = GRID, state: str = "closed", overdue=False, due_soon=False, rating=None, cases=1):
    return CaseTally(grid, state, overdue, due_soon, rating, cases)


def test_map_levels_follow_open_overdue_and_dissatisfaction():
    figures = grid_figures(
        [
            tally(state="assigned", overdue=True),
            tally(state="accepted"),
            tally(state="closed", rating="unsatisfied"),
            tally(state="closed", rating="satisfied"),
            tally(state="closed", rating=""),  # no rating given: not evaluated
            tally("150302002001001", state="closed", rating="satisfied"),
            tally(None, state="assigned"),  # not placed on a grid yet: on no grid's figures
        ]
    )
    assert set(figures) == {GRID, "150302002001001"}
    mine = figures[GRID]
    assert (mine.open, mine.overdue, mine.evaluated, mine.satisfied) == (2, 1, 2, 1)
    assert (mine.level("open"), mine.level("overdue"), mine.level("satisfaction")) == (2, 2, 3)
    assert figures["150302002001001"].level("satisfaction") == 1
    assert GridFigures().level("satisfaction") == 0 and GridFigures(open=9).level("open") == 4


def test_a_tally_counts_as_many_cases_as_it_holds():
    figures = grid_figures(
        [
            tally(state="assigned", overdue=True, cases=3),
            tally(state="in_progress", due_soon=True, cases=2),
            tally(state="closed", rating="basically_satisfied", cases=4),
            tally(state="closed", rating="dissatisfied", cases=1),
        ]
    )[GRID]
    assert (figures.open, figures.overdue, figures.due_soon, figures.evaluated, figures.satisfied) == (5, 3, 2, 5, 4)
    assert figures.satisfaction == 0.8


def test_a_periods_bounds_in_utc_hold_exactly_the_moments_it_holds():
    period = Period(date(2026, 11, 30), date(2026, 12, 1))
    start, end = period.bounds()
    assert (start, end) == (datetime(2026, 11, 29, 16, 0, tzinfo=UTC), datetime(2026, 12, 1, 16, 0, tzinfo=UTC))
    for moment in (start - timedelta(microseconds=1), start, end - timedelta(microseconds=1), end):
        assert period.holds(moment) == (start <= moment < end)


def test_the_supervision_board_groups_by_tier_soonest_deadline_first():
    board = supervision_board(
        [
            summary(cid="late", state="escalated", tier="community", overdue=True, deadline_at=T0),
            summary(cid="later", state="assigned", tier="grid", overdue=True, deadline_at=T0 + timedelta(hours=2)),
            summary(cid="latest", state="assigned", tier="grid", overdue=True, deadline_at=T0 + timedelta(hours=1)),
            summary(cid="soon", state="accepted", tier="grid", due_soon=True, deadline_at=T0),
            summary(cid="done", state="closed", tier="grid", overdue=True),
            summary(cid="calm", state="accepted", tier="grid"),
        ]
    )
    assert list(board.overdue) == ["grid", "community"]
    assert [c.correlation_id for c in board.overdue["grid"]] == ["latest", "later"]
    assert [c.correlation_id for c in board.due_soon["grid"]] == ["soon"]


def test_performance_counts_cases_reported_in_the_period_in_district_time():
    evening = datetime(2026, 11, 30, 17, 0, tzinfo=UTC)  # 01:00 on 1 December in Wuhai
    cases = [
        summary(
            state="closed",
            reported_at=T0,
            resolved_at=T0 + timedelta(hours=5),
            resolved_on_time=True,
            rating="satisfied",
            was_overdue=False,
        ),
        summary(
            state="resolved",
            reported_at=T0,
            resolved_at=T0 + timedelta(hours=1),
            resolved_on_time=False,
            was_overdue=True,
            escalations=1,
            rating="unsatisfied",
        ),
        summary(state="assigned", reported_at=evening),
    ]
    names = {"150302001": "凤凰岭", "150302002": "海北"}
    rows = performance(cases, "sub_centre", Period(date(2026, 11, 30), date(2026, 11, 30)), names)
    first, quiet = rows
    assert (first.received, first.resolved, first.resolved_on_time, first.overdue, first.escalated) == (2, 2, 1, 1, 1)
    assert (first.on_time_rate, first.satisfaction_rate, first.average_handling_hours) == (0.5, 0.5, 3.0)
    assert quiet.received == 0 and quiet.on_time_rate is None
    december = performance(cases, "grid", Period(date(2026, 12, 1), date(2026, 12, 1)), {})
    assert [(u.unit_code, u.received) for u in december] == [(GRID, 1)]
    csv = performance_csv(rows).splitlines()
    assert csv[0].split(",")[:3] == ["unit_code", "name", "received"]
    assert csv[1].startswith("150302001,凤凰岭,2,2,1,0.5,1,1,2,0.5,3.0") and csv[2].startswith("150302002,海北,0,0,0,,")
    with pytest.raises(BadQuery):
        performance(cases, "province", Period(date(2026, 11, 30), date(2026, 11, 30)), {})


@pytest.mark.parametrize(
    ("start", "end", "problem"),
    [
        ("2026-12-05", "2026-12-01", "before it starts"),
        ("30/11/2026", None, "YYYY-MM-DD"),
        ("2024-01-01", "2026-01-01", "366 days"),
    ],
)
def test_a_period_must_make_sense(start, end, problem):
    with pytest.raises(BadQuery, match=problem):
        Period.parse(start, end, date(2026, 12, 10))


def test_a_period_defaults_to_this_month_so_far():
    assert Period.parse(None, None, date(2026, 12, 10)) == Period(date(2026, 12, 1), date(2026, 12, 10))


def test_the_map_projects_every_grid_inside_the_picture():
    grids = load_grid_map()
    view = project_map(grids, width=1000)
    assert len(view.shapes) == 435
    xs, ys = [], []
    for shape in view.shapes:
        for pair in shape.path.strip("MZ").split("L"):
            x, y = map(float, pair.split(","))
            xs.append(x)
            ys.append(y)
    assert min(xs) == pytest.approx(10, abs=0.1) and max(xs) == pytest.approx(990, abs=0.1)
    assert min(ys) == pytest.approx(10, abs=0.1) and max(ys) == pytest.approx(view.height - 10, abs=0.6)
    north = max(grids, key=lambda g: g.centroid[0])
    top = next(s for s in view.shapes if s.code == north.code)
    assert float(top.path[1:].split("L")[0].split(",")[1]) < view.height / 2  # north is up


def test_who_may_supervise_or_escalate():
    open_case = summary(state="assigned", case_id="C1")
    assert allowed_actions("district_operator", open_case) == ["supervise", "escalate"]
    assert allowed_actions("community_operator", open_case) == ["supervise", "escalate"]
    assert allowed_actions("district_operator", summary(state="closed", case_id="C1")) == []
    assert allowed_actions("district_operator", summary(state="reported")) == []  # dispatch has no case yet
    with pytest.raises(NotAllowed, match="no dispatch case yet"):
        check_action("community_operator", summary(state="reported"), "supervise")
    with pytest.raises(NotAllowed, match="closed"):
        check_action("admin", summary(state="closed", case_id="C1"), "escalate")
    with pytest.raises(UnknownAction):
        check_action("admin", open_case, "delete")


def test_a_suspension_stops_the_clock_and_resuming_returns_to_the_work():
    events = [*lifecycle()[:2], ev(3, "case_started", 5, started_by="S0004", tier="grid")]
    events += [
        ev(4, "case_due_soon", 60, stage="resolution", deadline_at=T0, tier="grid"),
        ev(5, "case_suspended", 61, suspended_by="S0004", reason="等待配件", tier="grid"),
    ]
    suspended = project("R1", events)
    assert suspended.state == "suspended" and suspended.is_open and not suspended.due_soon
    resumed = project("R1", [*events, ev(6, "case_resumed", 120, resumed_by="S0004", deadline_at=T0, tier="grid")])
    assert resumed.state == "in_progress"
    press = ev(7, "case_supervised", 62, supervised_by="S0200", supervision_id="P1", stage="resolution",
               deadline_at=T0, reason="督办", tier="grid")  # fmt: skip
    pressed = project("R1", [*events, press])
    assert pressed.supervisions == 1


def test_the_service_subscribes_to_every_event_the_domain_folds():
    from console.domain.cases import CONSUMED
    from console.entrypoints.service import ConsoleService
    from gridlink.contracts import contract_for

    subscribed = {
        (entrypoint.source_service, entrypoint.event_type)
        for attr in vars(ConsoleService).values()
        for entrypoint in getattr(attr, "nameko_entrypoints", ())
        if hasattr(entrypoint, "event_type")
    }
    assert subscribed == set(CONSUMED)
    assert all(contract_for(kind).source == source for source, kind in CONSUMED)
