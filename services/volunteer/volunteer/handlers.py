"""volunteer's service layer: load, call the domain, commit. No HTTP and no nameko here.

Staff handlers take `who` (the signed-in principal: `user_id`, `role`, `covers(code)`); a volunteer's user id is
their volunteer id. Time comes in as `now` (or a `clock` for timers), so tests drive it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from gridlink.contracts import Envelope
from gridlink.runtime.timers import Timer
from volunteer.adapters.reference import VolunteerReference
from volunteer.adapters.repository import VolunteerUnitOfWork
from volunteer.domain import ledger
from volunteer.domain.errors import NotAllowed, NotEligible, OrderNotFound, RequestReused, UnknownVolunteer
from volunteer.domain.ledger import POINTS, Transaction, volunteer_account
from volunteer.domain.matching import Candidate, MatchRequest, rank, why_not
from volunteer.domain.model import Order

COORDINATOR = "volunteer_coordinator"
VOLUNTEER = "volunteer"
ACCEPT_TIMER, REMINDER_TIMER, CONFIRM_TIMER = "order_accept", "order_reminder", "order_confirm"
ORDER_TIMERS = (ACCEPT_TIMER, REMINDER_TIMER, CONFIRM_TIMER)


def utcnow() -> datetime:
    return datetime.now(UTC)


# --- creating orders ----------------------------------------------------------------------------------------------


def create_order(uow: VolunteerUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """case_referred_to_volunteers → an order awaiting the centre's review."""
    if uow.orders.by_case(event.payload["case_id"]) is None:
        order = Order.from_case_referral(event.payload, event.correlation_id, now or utcnow())
        uow.orders.add(order)
        _publish(uow, order)
    uow.commit()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def place_order(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    service_code: str,
    description: str,
    grid_code: str,
    scheduled_at: datetime | None,
    now: datetime,
) -> tuple[Order, str]:
    """A resident's own order (点单). Returns the order and the resident's token, which is shown once: with it the
    resident follows, cancels and rates the order without an account."""
    ref.catalogue.service(service_code)
    if grid_code not in ref.grid_communities:
        raise NotEligible(f"unknown grid {grid_code!r}")
    token = secrets.token_urlsafe(18)
    order = Order.place(
        service_code, description, grid_code, ref.grid_communities[grid_code], scheduled_at, _token_hash(token), now
    )
    with uow:
        uow.orders.add(order)
        _publish(uow, order)
        uow.commit()
    return order, token


# --- reading ------------------------------------------------------------------------------------------------------


def get_order(uow: VolunteerUnitOfWork, order_id: str) -> Order:
    with uow:
        return _load(uow, order_id)


def order_for(uow: VolunteerUnitOfWork, order_id: str, who) -> tuple[Order, list]:
    """The order and its steps, for the coordinator who covers it or the volunteer who holds it."""
    with uow:
        order = _load(uow, order_id)
        _may_see(who, order)
        return order, uow.orders.steps(order.order_id)


def list_orders(uow: VolunteerUnitOfWork, who, status: str | None = None, limit: int = 100) -> list[Order]:
    """A volunteer sees only their own orders; a coordinator those in their organisation unit."""
    with uow:
        if who.role == VOLUNTEER:
            return uow.orders.list(limit, volunteer_id=who.user_id, status=status)
        return uow.orders.list(limit, status=status, unit_prefix=None if who.role == "admin" else who.unit)


def claimable(uow: VolunteerUnitOfWork, ref: VolunteerReference, who) -> list[Order]:
    """Open orders this volunteer could claim now (抢单大厅)."""
    volunteer = ref.volunteer(who.user_id)
    with uow:
        load = uow.orders.loads().get(volunteer.volunteer_id, 0)
        return [o for o in uow.orders.open_for_claims() if why_not(volunteer, _request(o), load) is None]


def candidates(
    uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, team_code: str | None = None
) -> tuple[Order, list[Candidate]]:
    """The ranked candidate list the coordinator sees before dispatching."""
    if team_code is not None:
        ref.team(team_code)
    with uow:
        order = _load(uow, order_id)
        _coordinator(who, order)
        return order, _rank(uow, ref, order, team_code)


# --- review and dispatch ------------------------------------------------------------------------------------------


def review(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    order_id: str,
    who,
    approve: bool,
    reason: str | None,
    scheduled_at: datetime | None,
    now: datetime,
) -> Order:
    def step(order: Order) -> None:
        _coordinator(who, order)
        if approve:
            ref.catalogue.service(order.service_code)  # an order for a service nobody offers cannot be approved
            order.approve(who.user_id, now, scheduled_at)
        else:
            order.reject(who.user_id, reason or "rejected at review", now)

    return _change(uow, order_id, step)


def dispatch(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    order_id: str,
    who,
    mode: str,
    now: datetime,
    volunteer_id: str | None = None,
    team_code: str | None = None,
) -> Order:
    """mode: `auto` (the best-ranked volunteer), `volunteer` (a named one), `team` or `claim` (open for claiming)."""
    timing = ref.catalogue.timing
    if team_code is not None:
        ref.team(team_code)

    def step(order: Order) -> None:
        _coordinator(who, order)
        if mode == "auto":
            if not _auto_dispatch(uow, ref, order, now, who.user_id, team_code):
                raise NotEligible("no eligible volunteer for this order; open it for claiming or pick a team")
        elif mode == "volunteer":
            volunteer = ref.volunteer(volunteer_id or "")
            reason = why_not(volunteer, _request(order), uow.orders.loads().get(volunteer.volunteer_id, 0))
            if reason:
                raise NotEligible(f"{volunteer.volunteer_id} cannot take this order: {reason}")
            order.dispatch_to(volunteer.volunteer_id, volunteer.team_code, now + timing.accept_within, who.user_id, now)
            _arm_answer_timer(uow, order)
        else:
            order.open_for_claims(team_code if mode == "team" else None, now + timing.claim_within, who.user_id, now)
            _arm_answer_timer(uow, order)

    return _change(uow, order_id, step)


def _auto_dispatch(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    order: Order,
    now: datetime,
    actor: str,
    team_code: str | None = None,
) -> bool:
    """Offer the order to the best-ranked volunteer; False (and the order marked unmatched when the system was
    acting) when there is no one left to ask or enough attempts were made."""
    timing = ref.catalogue.timing
    ranked = _rank(uow, ref, order, team_code)
    if actor == "system" and order.attempts >= timing.max_dispatch_attempts:
        order.unmatched(f"offered {order.attempts} times without success", now)
        return False
    if not ranked:
        if actor == "system":
            order.unmatched("no eligible volunteer", now)
        return False
    best = ranked[0]
    order.dispatch_to(best.volunteer_id, best.team_code, now + timing.accept_within, actor, now)
    _arm_answer_timer(uow, order)
    return True


def _arm_answer_timer(uow: VolunteerUnitOfWork, order: Order) -> None:
    if order.status in ("offered", "open"):
        uow.schedule(ACCEPT_TIMER, order.order_id, order.accept_by, {"attempt": order.attempts}, order.correlation_id)


def _request(order: Order, team_code: str | None = None) -> MatchRequest:
    return MatchRequest(
        service_code=order.service_code,
        grid_code=order.grid_code,
        scheduled_at=order.scheduled_at,
        team_code=team_code or (order.team_code if order.status == "open" else None),
        excluded=frozenset(order.excluded),
    )


def _rank(uow: VolunteerUnitOfWork, ref: VolunteerReference, order: Order, team_code: str | None) -> list[Candidate]:
    return rank(
        ref.volunteers.values(),
        _request(order, team_code),
        uow.orders.loads(),
        ref.distance_km,
        uow.orders.ratings(),
    )


# --- the volunteer ------------------------------------------------------------------------------------------------


def accept(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, now: datetime) -> Order:
    def step(order: Order) -> None:
        order.accept(_volunteer(ref, who), now)
        _after_acceptance(uow, ref, order, now)

    return _change(uow, order_id, step)


def claim(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, now: datetime) -> Order:
    """First come, first served: the version check in `save` lets exactly one concurrent claim win."""
    volunteer = ref.volunteer(_volunteer(ref, who))

    def step(order: Order) -> None:
        if order.status == "open":
            reason = why_not(volunteer, _request(order), uow.orders.loads().get(volunteer.volunteer_id, 0))
            if reason:
                raise NotEligible(f"you cannot take this order: {reason}")
        order.claim(volunteer.volunteer_id, volunteer.team_code, now)
        _after_acceptance(uow, ref, order, now)

    return _change(uow, order_id, step)


def _after_acceptance(uow: VolunteerUnitOfWork, ref: VolunteerReference, order: Order, now: datetime) -> None:
    uow.cancel_timer(ACCEPT_TIMER, order.order_id)
    if order.scheduled_at is not None:
        due = max(now, order.scheduled_at - ref.catalogue.timing.reminder_before)
        uow.schedule(REMINDER_TIMER, order.order_id, due, {"volunteer_id": order.volunteer_id}, order.correlation_id)


def decline(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, reason: str, now: datetime) -> Order:
    """The volunteer says no; the order goes at once to the next-best volunteer."""

    def step(order: Order) -> None:
        order.decline(_volunteer(ref, who), reason, now)
        _clear_timers(uow, order)
        _auto_dispatch(uow, ref, order, now, "system")

    return _change(uow, order_id, step)


def confirm(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, now: datetime) -> Order:
    def step(order: Order) -> None:
        order.confirm(_volunteer(ref, who), now)
        uow.cancel_timer(CONFIRM_TIMER, order.order_id)

    return _change(uow, order_id, step)


def start(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, now: datetime) -> Order:
    def step(order: Order) -> None:
        order.start(_volunteer(ref, who), now)
        uow.cancel_timer(CONFIRM_TIMER, order.order_id)

    return _change(uow, order_id, step)


def complete(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    order_id: str,
    who,
    hours: Decimal,
    note: str,
    photo_urls: list[str],
    now: datetime,
) -> Order:
    """Service done with proof; the hours and points it earns are credited in the same transaction."""

    def step(order: Order) -> None:
        service = ref.catalogue.service(order.service_code)
        order.complete(_volunteer(ref, who), hours, note, photo_urls, service.max_hours, now)
        _clear_timers(uow, order)
        _publish(uow, order)  # the completion, then what it earned
        credit = ledger.service_credit(
            order.order_id, order.volunteer_id, service, order.hours, ref.catalogue.points, now
        )
        _credit(uow, order, credit)

    return _change(uow, order_id, step)


# --- the resident (or the centre on their behalf) -----------------------------------------------------------------


def rate(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    order_id: str,
    rating: int,
    comment: str | None,
    now: datetime,
    token: str | None = None,
    who=None,
) -> Order:
    """The resident's rating closes the order (评单); a good one earns the volunteer a bonus."""

    def step(order: Order) -> None:
        actor = _resident_or_coordinator(order, token, who)
        order.rate(rating, comment, actor, now)
        _publish(uow, order)
        earned = uow.ledger.by_key(f"service:{order.order_id}")
        account = volunteer_account(order.volunteer_id)
        bonus = ledger.rating_bonus(
            order.order_id,
            order.volunteer_id,
            earned.amount(account, POINTS) if earned else Decimal(0),
            rating,
            ref.catalogue.points,
            now,
        )
        if bonus is not None:
            _credit(uow, order, bonus)

    return _change(uow, order_id, step)


def cancel(
    uow: VolunteerUnitOfWork, order_id: str, reason: str, now: datetime, token: str | None = None, who=None
) -> Order:
    def step(order: Order) -> None:
        order.cancel(_resident_or_coordinator(order, token, who), reason, now)
        _clear_timers(uow, order)

    return _change(uow, order_id, step)


def no_show(uow: VolunteerUnitOfWork, ref: VolunteerReference, order_id: str, who, now: datetime) -> Order:
    """The volunteer did not come: record it and send the order to someone else."""

    def step(order: Order) -> None:
        _coordinator(who, order)
        order.no_show(who.user_id, now)
        _clear_timers(uow, order)
        _auto_dispatch(uow, ref, order, now, "system")

    return _change(uow, order_id, step)


# --- timers -------------------------------------------------------------------------------------------------------


def on_answer_due(uow: VolunteerUnitOfWork, timer: Timer, ref: VolunteerReference, clock: Callable[[], datetime]):
    """No answer to an offer, or no claim, in time: dispatch again automatically."""
    order = uow.orders.get(timer.key)
    if order is not None and order.attempts == timer.payload["attempt"] and order.status in ("offered", "open"):
        now = max(clock(), timer.due_at)
        if order.status == "offered":
            order.decline(order.volunteer_id, "no answer in time", now, automatic=True)
        else:
            order.claims_expired(now)
        _auto_dispatch(uow, ref, order, now, "system")
        _save(uow, order)
    uow.commit()


def on_reminder_due(uow: VolunteerUnitOfWork, timer: Timer, ref: VolunteerReference, clock: Callable[[], datetime]):
    """Remind the volunteer of the service; one who has not confirmed must do so before the confirm deadline."""
    order = uow.orders.get(timer.key)
    if (
        order is not None
        and order.volunteer_id == timer.payload["volunteer_id"]
        and order.status in ("accepted", "confirmed", "in_service")
    ):
        now = max(clock(), timer.due_at)
        confirm_by = order.scheduled_at - ref.catalogue.timing.confirm_before
        needs_confirmation = order.status == "accepted" and confirm_by > now
        order.remind(confirm_by if needs_confirmation else None)
        if needs_confirmation:
            uow.schedule(
                CONFIRM_TIMER,
                order.order_id,
                confirm_by,
                {"volunteer_id": order.volunteer_id},
                order.correlation_id,
            )
        _publish(uow, order)
    uow.commit()


def on_confirm_due(uow: VolunteerUnitOfWork, timer: Timer, ref: VolunteerReference, clock: Callable[[], datetime]):
    """Not confirmed in time: replace the volunteer while there is still time to find another."""
    order = uow.orders.get(timer.key)
    if order is not None and order.status == "accepted" and order.volunteer_id == timer.payload["volunteer_id"]:
        now = max(clock(), timer.due_at)
        order.decline(order.volunteer_id, "not confirmed before the service", now, automatic=True)
        _clear_timers(uow, order)
        _auto_dispatch(uow, ref, order, now, "system")
        _save(uow, order)
    uow.commit()


# --- points -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Redemption:
    transaction: Transaction
    points_balance: Decimal
    replayed: bool


def redeem(
    uow: VolunteerUnitOfWork,
    ref: VolunteerReference,
    who,
    reward_code: str,
    request_id: str,
    now: datetime,
) -> Redemption:
    """Spend points on a reward: the debit, its counter-entry and the stock decrement commit together or not at all.
    The same request id sent again returns the first redemption and changes nothing."""
    volunteer_id = _volunteer(ref, who)
    reward = ref.catalogue.reward(reward_code)
    account = volunteer_account(volunteer_id)
    key = ledger.redemption_key(volunteer_id, request_id)
    with uow:
        existing = uow.ledger.by_key(key)
        if existing is None:
            transaction = ledger.redemption(volunteer_id, reward, request_id, now)
            uow.ledger.balances([account]).check(transaction)  # a clear refusal before touching any row
            uow.rewards.ensure(ref.catalogue.rewards.values())
            if uow.ledger.post(transaction):
                uow.rewards.take_one(reward.code)
                balance = uow.ledger.balances([account]).get(account, POINTS)
                uow.publish(
                    "points_redeemed",
                    {
                        "transaction_id": transaction.transaction_id,
                        "volunteer_id": volunteer_id,
                        "reward_code": reward.code,
                        "points": reward.points,
                        "points_balance": balance,
                    },
                    correlation_id=transaction.transaction_id,
                )
                uow.commit()
                return Redemption(transaction, balance, replayed=False)
            uow.rollback()  # a concurrent copy of this request committed first
            existing = uow.ledger.by_key(key)
        if existing.reward_code != reward_code:
            raise RequestReused(f"request {request_id!r} already redeemed {existing.reward_code}")
        return Redemption(existing, uow.ledger.balances([account]).get(account, POINTS), replayed=True)


def _credit(uow: VolunteerUnitOfWork, order: Order, transaction: Transaction) -> None:
    account = volunteer_account(transaction.volunteer_id)
    if not uow.ledger.post(transaction):
        return  # credited before: a replay counts once
    uow.publish(
        "points_credited",
        {
            "transaction_id": transaction.transaction_id,
            "volunteer_id": transaction.volunteer_id,
            "order_id": order.order_id,
            "kind": transaction.kind,
            "points": transaction.amount(account, POINTS),
            "hours": transaction.amount(account, ledger.HOURS),
            "points_balance": uow.ledger.balances([account]).get(account, POINTS),
        },
        correlation_id=order.correlation_id,
    )


def statement(uow: VolunteerUnitOfWork, ref: VolunteerReference, volunteer_id: str, who) -> dict:
    volunteer = ref.volunteer(volunteer_id)
    _may_see_volunteer(ref, who, volunteer_id)
    account = volunteer_account(volunteer_id)
    with uow:
        balances = uow.ledger.balances([account])
        lines = ledger.statement(volunteer_id, uow.ledger.of_volunteer(volunteer_id))
    return {
        "volunteer": volunteer,
        "balances": {unit: balances.get(account, unit) for unit in ledger.UNITS},
        "lines": lines,
    }


def rewards(uow: VolunteerUnitOfWork, ref: VolunteerReference) -> list[tuple]:
    """The catalogue with what is left of each reward."""
    with uow:
        stock = uow.rewards.stock()
    return [(r, *stock.get(r.code, (r.initial_stock, 0))) for r in ref.catalogue.rewards.values()]


def audit(uow: VolunteerUnitOfWork) -> dict:
    with uow:
        return uow.ledger.trial_balance()


def stats(uow: VolunteerUnitOfWork, ref: VolunteerReference, who) -> dict:
    """Per volunteer and per team: orders done, hours, average rating, points earned and spent."""
    with uow:
        orders = uow.orders.order_stats()
        money = uow.ledger.totals_by_volunteer()
    zero = Decimal("0.00")
    per_volunteer: dict[str, dict] = {}
    per_team: dict[str, dict] = {}
    for vid in sorted(set(orders) | set(money)):
        volunteer = ref.volunteers.get(vid)
        team_code = volunteer.team_code if volunteer else None
        if who.role != "admin" and (team_code is None or not who.covers(ref.teams[team_code].community_code)):
            continue
        o = orders.get(vid, {"orders": 0, "ratings": 0, "rating_sum": 0})
        m = money.get(vid, {"points_earned": zero, "points_spent": zero, "hours": zero})
        per_volunteer[vid] = {"team_code": team_code, **o, **m}
        team = per_team.setdefault(
            team_code,
            {"orders": 0, "ratings": 0, "rating_sum": 0, "points_earned": zero, "points_spent": zero, "hours": zero},
        )
        for k, v in per_volunteer[vid].items():
            if k != "team_code":
                team[k] += v
    for entry in (*per_volunteer.values(), *per_team.values()):
        ratings, total = entry.pop("ratings"), entry.pop("rating_sum")
        entry["ratings"] = ratings
        entry["average_rating"] = round(total / ratings, 2) if ratings else None
    return {"volunteers": per_volunteer, "teams": per_team}


# --- plumbing -----------------------------------------------------------------------------------------------------


def _load(uow: VolunteerUnitOfWork, order_id: str) -> Order:
    order = uow.orders.get(order_id) or uow.orders.by_case(order_id)
    if order is None:
        raise OrderNotFound(f"no order {order_id!r}")
    return order


def _change(uow: VolunteerUnitOfWork, order_id: str, step: Callable[[Order], None]) -> Order:
    with uow:
        order = _load(uow, order_id)
        step(order)
        _save(uow, order)
        uow.commit()
    return order


def _save(uow: VolunteerUnitOfWork, order: Order) -> None:
    uow.orders.save(order)
    _publish(uow, order)


def _publish(uow: VolunteerUnitOfWork, order: Order) -> None:
    for event_type, payload in order.events:
        uow.publish(event_type, payload, correlation_id=order.correlation_id)
    order.events = []


def _clear_timers(uow: VolunteerUnitOfWork, order: Order) -> None:
    for kind in ORDER_TIMERS:
        uow.cancel_timer(kind, order.order_id)


def _coordinator(who, order: Order) -> None:
    if who.role not in (COORDINATOR, "admin"):
        raise NotAllowed("only a volunteer coordinator may do this")
    if not who.covers(order.grid_code):
        raise NotAllowed(f"order {order.order_id} is outside your unit {who.unit}")


def _volunteer(ref: VolunteerReference, who) -> str:
    if who.role != VOLUNTEER:
        raise NotAllowed("only a volunteer may do this")
    try:
        return ref.volunteer(who.user_id).volunteer_id
    except UnknownVolunteer:
        raise NotAllowed(f"{who.user_id} is not on the volunteer roster") from None


def _may_see(who, order: Order) -> None:
    if who.role == VOLUNTEER:
        if order.volunteer_id != who.user_id:
            raise NotAllowed("a volunteer sees only their own orders")
    else:
        _coordinator(who, order)


def _may_see_volunteer(ref: VolunteerReference, who, volunteer_id: str) -> None:
    if who.role == VOLUNTEER:
        if who.user_id != volunteer_id:
            raise NotAllowed("a volunteer sees only their own statement")
        return
    team = ref.teams[ref.volunteer(volunteer_id).team_code]
    if who.role not in (COORDINATOR, "admin") or not who.covers(team.community_code):
        raise NotAllowed(f"volunteer {volunteer_id} is outside your unit")


def _resident_or_coordinator(order: Order, token: str | None, who) -> str:
    """The resident proves the order is theirs with its token (their report's tracking code for a referral)."""
    if who is not None:
        _coordinator(who, order)
        return who.user_id
    expected = order.resident_token_hash if order.origin == "resident" else order.tracking_code
    given = _token_hash(token or "") if order.origin == "resident" else (token or "")
    if not token or expected is None or not hmac.compare_digest(expected, given):
        raise NotAllowed("send the order's resident token (the report's tracking code for a report)")
    return "resident"
