"""volunteer's domain with no I/O: matching, the order's state machine, the ledger (with a property-based test of
its invariants) and the district's volunteer data."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridlink.contracts import contract_for
from gridlink.refdata import DEFAULT_DATA_DIR, load_organisation
from volunteer.adapters.reference import load_reference
from volunteer.domain import ledger
from volunteer.domain.catalogue import PointsRules, Reward, Service
from volunteer.domain.errors import InsufficientPoints, InvalidTransition, NotAllowed, UnbalancedTransaction
from volunteer.domain.ledger import HOURS, ISSUED, POINTS, REDEEMED, Balances, Posting, Transaction
from volunteer.domain.matching import MatchRequest, Volunteer, Window, effective_rating, rank, score, why_not
from volunteer.domain.model import Order

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Beijing
WEEKDAYS = Window(frozenset(range(5)), time(8), time(17))
RULES = PointsRules(Decimal("10.00"), {5: Decimal("0.20"), 4: Decimal("0.10")})
ESCORT = Service("hospital_escort", "就医陪护", "Hospital accompaniment", Decimal("1.5"), Decimal("8"))


def volunteer(vid="V1", grid="G-A", skills=None, windows=(WEEKDAYS,), max_load=2, rating="4.5", team="VT01"):
    return Volunteer(vid, vid, team, grid, skills or {"elder_visit": 2}, windows, max_load, Decimal(rating))


POINTS_AT = {"G-A": (39.67, 106.82), "G-B": (39.68, 106.82), "G-C": (39.75, 106.82)}


def distance(a: str, b: str) -> float:
    from volunteer.domain.matching import haversine_km

    return haversine_km(POINTS_AT[a], POINTS_AT[b])


REQUEST = MatchRequest("elder_visit", "G-A", scheduled_at=NOW)

# --- matching ---------------------------------------------------------------------------------------------------


def test_the_nearer_volunteer_ranks_first_and_the_list_says_why():
    near, far = volunteer("V1", "G-A"), volunteer("V2", "G-C")
    ranked = rank([far, near], REQUEST, {}, distance, {})
    assert [c.volunteer_id for c in ranked] == ["V1", "V2"]
    assert ranked[0].parts["distance"] == 1.0 and ranked[1].parts["distance"] < 0.3
    assert ranked[1].distance_km == pytest.approx(8.9, abs=0.1)
    assert set(ranked[0].parts) == {"skill", "distance", "availability", "load", "rating"}


def test_skill_level_load_and_rating_each_move_the_score():
    base = score(volunteer(), REQUEST, load=0, distance_km=1.0, rating=4.5)
    expert = score(volunteer(skills={"elder_visit": 3}), REQUEST, load=0, distance_km=1.0, rating=4.5)
    busy = score(volunteer(), REQUEST, load=1, distance_km=1.0, rating=4.5)
    poorly_rated = score(volunteer(), REQUEST, load=0, distance_km=1.0, rating=2.0)
    assert expert.score > base.score > busy.score
    assert base.score > poorly_rated.score


def test_who_cannot_take_an_order_is_not_a_candidate():
    saturday = NOW + timedelta(days=4)
    assert why_not(volunteer(skills={"tutoring": 3}), REQUEST, 0) == "has no elder_visit skill"
    assert why_not(volunteer(), MatchRequest("elder_visit", "G-A", scheduled_at=saturday), 0).startswith("not avail")
    assert why_not(volunteer(max_load=2), REQUEST, 2).startswith("already holds 2")
    assert why_not(volunteer(), MatchRequest("elder_visit", "G-A", excluded=frozenset({"V1"})), 0).startswith("alr")
    assert why_not(volunteer(), MatchRequest("elder_visit", "G-A", team_code="VT02"), 0) == "not a member of team VT02"
    assert rank([volunteer(max_load=1)], REQUEST, {"V1": 1}, distance, {}) == []


def test_availability_is_read_in_beijing_time():
    evening = Window(frozenset({1}), time(18), time(21))  # Tuesday evening
    assert evening.holds(datetime(2026, 12, 1, 11, 0, tzinfo=UTC))  # 19:00 in Beijing
    assert not evening.holds(datetime(2026, 12, 1, 2, 0, tzinfo=UTC))


def test_residents_ratings_pull_the_roster_rating():
    assert effective_rating(Decimal("4.0"), 0, 0) == 4.0
    assert effective_rating(Decimal("4.0"), 5, 5) == 2.5
    low = volunteer("V1", rating="4.0")
    high = volunteer("V2", rating="4.0")
    ranked = rank([low, high], REQUEST, {}, lambda a, b: 0.0, {"V1": (4, 4), "V2": (4, 20)})
    assert [c.volunteer_id for c in ranked] == ["V2", "V1"]


def test_ties_break_on_distance_then_id():
    twins = [volunteer("V9"), volunteer("V3")]
    assert [c.volunteer_id for c in rank(twins, REQUEST, {}, distance, {})] == ["V3", "V9"]


# --- the order ----------------------------------------------------------------------------------------------------

REFERRAL = {
    "case_id": "c-1",
    "report_id": "r-1",
    "tracking_code": "HB-261201-ABCDEF",
    "service_code": "elder_visit",
    "description": "独居老人需要上门探访",
    "grid_code": "150302001001001",
    "community_code": "150302001001",
}


def drain(order: Order) -> list[str]:
    types = [t for t, _ in order.events]
    for event_type, payload in order.events:
        contract_for(event_type).dump(payload)  # every event the domain raises fits its contract
    order.events = []
    return types


def test_an_order_runs_the_whole_loop_with_an_event_at_every_step():
    order = Order.from_case_referral(REFERRAL, "r-1", NOW)
    assert drain(order) == ["order_created"]
    order.approve("C1", NOW, scheduled_at=NOW + timedelta(days=2))
    order.dispatch_to("V1", "VT01", NOW + timedelta(minutes=30), "C1", NOW)
    order.accept("V1", NOW + timedelta(minutes=5))
    order.confirm("V1", NOW + timedelta(days=1))
    order.start("V1", NOW + timedelta(days=2))
    order.complete("V1", Decimal("2"), "陪老人聊天两小时", ["https://img.example/1.jpg"], Decimal("4"), NOW)
    order.rate(5, "很好", "resident", NOW)
    assert drain(order) == [
        "order_approved",
        "order_dispatched",
        "order_accepted",
        "order_confirmed",
        "order_started",
        "order_completed",
        "order_rated",
    ]
    assert order.status == "closed" and order.hours == Decimal("2.00")
    assert [s.status for s in order.steps][-1] == "closed"


def test_a_decline_excludes_the_volunteer_and_returns_the_order_to_the_centre():
    order = Order.from_case_referral(REFERRAL, "r-1", NOW)
    order.approve("C1", NOW)
    order.dispatch_to("V1", "VT01", NOW + timedelta(minutes=30), "C1", NOW)
    with pytest.raises(NotAllowed):
        order.accept("V2", NOW)
    order.decline("V1", "生病", NOW)
    assert order.status == "approved" and order.excluded == ["V1"] and order.volunteer_id is None
    assert drain(order)[-1] == "order_declined"


def test_late_acceptance_and_steps_out_of_turn_are_refused():
    order = Order.from_case_referral(REFERRAL, "r-1", NOW)
    with pytest.raises(InvalidTransition, match="pending_review"):
        order.dispatch_to("V1", "VT01", NOW, "C1", NOW)
    order.approve("C1", NOW)
    order.dispatch_to("V1", "VT01", NOW + timedelta(minutes=30), "C1", NOW)
    with pytest.raises(InvalidTransition, match="passed"):
        order.accept("V1", NOW + timedelta(minutes=31))
    with pytest.raises(InvalidTransition):
        order.rate(5, None, "resident", NOW)
    with pytest.raises(InvalidTransition, match="future"):
        Order.place("elder_visit", "x", "150302001001001", "150302001001", NOW - timedelta(hours=1), "h", NOW)


def test_claims_are_limited_to_the_team_the_order_was_opened_to():
    order = Order.from_case_referral(REFERRAL, "r-1", NOW)
    order.approve("C1", NOW)
    order.open_for_claims("VT01", NOW + timedelta(hours=1), "C1", NOW)
    with pytest.raises(NotAllowed):
        order.claim("V7", "VT02", NOW)
    order.claim("V1", "VT01", NOW)
    assert order.status == "accepted" and order.volunteer_id == "V1"


def test_hours_outside_the_services_limit_are_refused():
    order = Order.from_case_referral(REFERRAL, "r-1", NOW)
    order.approve("C1", NOW)
    order.dispatch_to("V1", "VT01", NOW + timedelta(minutes=30), "C1", NOW)
    order.accept("V1", NOW)
    with pytest.raises(InvalidTransition, match=r"between 0\.25 and 4"):
        order.complete("V1", Decimal("5"), "note", [], Decimal("4"), NOW)


# --- the ledger ---------------------------------------------------------------------------------------------------


def test_service_earns_hours_times_rate_times_multiplier_and_a_rating_bonus():
    credit = ledger.service_credit("o-1", "V1", ESCORT, Decimal("2.5"), RULES, NOW)
    account = ledger.volunteer_account("V1")
    assert credit.amount(account, POINTS) == Decimal("37.50")
    assert credit.amount(account, HOURS) == Decimal("2.50")
    assert credit.amount(ISSUED, POINTS) == Decimal("-37.50")
    bonus = ledger.rating_bonus("o-1", "V1", Decimal("37.50"), 5, RULES, NOW)
    assert bonus.amount(account, POINTS) == Decimal("7.50")
    assert ledger.rating_bonus("o-1", "V1", Decimal("37.50"), 3, RULES, NOW) is None


def test_points_round_half_up_to_the_cent():
    odd = Service("x", "x", "x", Decimal("1.1"), Decimal("8"))
    credit = ledger.service_credit("o-1", "V1", odd, Decimal("0.25"), PointsRules(Decimal("0.45"), {}), NOW)
    assert credit.amount(ledger.volunteer_account("V1"), POINTS) == Decimal("0.12")  # 0.12375


def test_an_unbalanced_transaction_cannot_exist():
    with pytest.raises(UnbalancedTransaction):
        Transaction("k", "service_credit", "V1", NOW, (Posting("volunteer:V1", POINTS, Decimal("1.00")),))


def test_an_overdraft_is_refused():
    balances = Balances()
    balances.apply(ledger.service_credit("o-1", "V1", ESCORT, Decimal("1"), RULES, NOW))  # 15 points
    reward = Reward("rice", "大米", "Rice", Decimal("15.01"), 1)
    with pytest.raises(InsufficientPoints):
        balances.apply(ledger.redemption("V1", reward, "req-1", NOW))
    assert balances.get("volunteer:V1", POINTS) == Decimal("15.00")


def test_a_statement_shows_each_movement_with_a_running_balance():
    credit = ledger.service_credit("o-1", "V1", ESCORT, Decimal("2"), RULES, NOW)
    spend = ledger.redemption("V1", Reward("r", "r", "r", Decimal("10"), 1), "req-1", NOW)
    lines = ledger.statement("V1", [credit, spend])
    assert [(line.kind, line.unit, line.amount, line.balance) for line in lines] == [
        ("service_credit", POINTS, Decimal("30.00"), Decimal("30.00")),
        ("service_credit", HOURS, Decimal("2.00"), Decimal("2.00")),
        ("redemption", POINTS, Decimal("-10.00"), Decimal("20.00")),
    ]


volunteers_ = st.sampled_from(["V1", "V2", "V3"])
credits = st.tuples(
    st.just("credit"), volunteers_, st.decimals(min_value="0.25", max_value="8", places=2), st.integers(1, 5)
)
spends = st.tuples(st.just("redeem"), volunteers_, st.decimals(min_value="0.01", max_value="90", places=2), st.just(0))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(credits, spends), max_size=60))
def test_random_credits_and_redemptions_never_break_the_ledger(operations):
    """Whatever happens: every transaction balances, no volunteer goes negative, all accounts sum to zero, and each
    volunteer's balance is exactly what they earned minus what they spent."""
    balances = Balances()
    earned = {v: Decimal(0) for v in ("V1", "V2", "V3")}
    spent = dict.fromkeys(earned, Decimal(0))
    for i, (kind, vid, amount, rating) in enumerate(operations):
        if kind == "credit":
            service = ledger.service_credit(f"o-{i}", vid, ESCORT, amount, RULES, NOW)
            transactions = [
                service,
                ledger.rating_bonus(f"o-{i}", vid, service.amount(f"volunteer:{vid}", POINTS), rating, RULES, NOW),
            ]
        else:
            transactions = [ledger.redemption(vid, Reward("r", "r", "r", amount, 1), f"req-{i}", NOW)]
        for t in filter(None, transactions):
            before = balances.get(f"volunteer:{vid}", POINTS)
            try:
                balances.apply(t)
            except InsufficientPoints:
                assert before < amount and balances.get(f"volunteer:{vid}", POINTS) == before
                continue
            for unit in (POINTS, HOURS):
                assert sum((p.amount for p in t.postings if p.unit == unit), Decimal(0)) == 0
            delta = t.amount(f"volunteer:{vid}", POINTS)
            (earned if delta > 0 else spent)[vid] += abs(delta)
        for (account, _unit), value in balances.items():
            if account.startswith("volunteer:"):
                assert value >= 0
        assert balances.total(POINTS) == 0 and balances.total(HOURS) == 0
    for vid in earned:
        assert balances.get(f"volunteer:{vid}", POINTS) == earned[vid] - spent[vid]
    assert -balances.get(ISSUED, POINTS) == sum(earned.values())
    assert balances.get(REDEEMED, POINTS) == sum(spent.values())


# --- the district's data ------------------------------------------------------------------------------------------


def test_the_roster_covers_all_41_teams_and_uses_only_known_skills_and_grids():
    reference = load_reference(DEFAULT_DATA_DIR)
    teams = {t.code for t in load_organisation().volunteer_teams}
    assert {v.team_code for v in reference.volunteers.values()} == teams
    assert len(reference.volunteers) == 41 * 5
    for v in reference.volunteers.values():
        assert reference.grid_communities[v.home_grid] == reference.teams[v.team_code].community_code
        assert set(v.skills) <= set(reference.catalogue.services) and v.weekly_hours > 0
    from gridlink.refdata import load_categories

    volunteer_categories = {c.code for c in load_categories().values() if c.kind == "volunteer"}
    assert volunteer_categories <= set(reference.catalogue.services)
    assert all(r.initial_stock > 0 and r.points > 0 for r in reference.catalogue.rewards.values())


def test_the_roster_generator_reproduces_the_file(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "volunteers_tool", DEFAULT_DATA_DIR.parents[1] / "tools/refdata/volunteers.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name in ("organisation.json", "grids.geojson", "volunteer_services.json"):
        (tmp_path / name).write_bytes((DEFAULT_DATA_DIR / name).read_bytes())
    module.main(["--out", str(tmp_path)])
    assert (tmp_path / "volunteers.json").read_bytes() == (DEFAULT_DATA_DIR / "volunteers.json").read_bytes()
