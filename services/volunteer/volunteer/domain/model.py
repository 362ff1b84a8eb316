"""The order aggregate: a resident's request for volunteer service, from review to rating (点单 → 派单 → 接单 → 评单).

    pending_review ─approve→ approved ─dispatch→ offered ─accept→ accepted ─confirm→ confirmed ─start→ in_service
          │                     │  ↑  └─open──→ open ──claim─┘       │ ↑                            │
        reject                  │  └─── decline / time-out / not confirmed / no-show ───┘          complete
          ↓                     │                                                                   ↓
       rejected           (cancel from any open state → cancelled)               completed ─rate→ closed

Each step records who took it and, where others need to know, the event to publish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from volunteer.domain.errors import InvalidTransition, NotAllowed
from volunteer.domain.ledger import money

HOLDING = ("offered", "accepted", "confirmed", "in_service")  # states in which the order counts to a volunteer's load
WITH_VOLUNTEER = ("accepted", "confirmed", "in_service")
CANCELLABLE = ("pending_review", "approved", "offered", "open", *WITH_VOLUNTEER)
BOOKING_HORIZON = timedelta(days=90)  # how far ahead a service can be booked
STATUSES = ("pending_review", "rejected", "approved", "open", *HOLDING, "completed", "closed", "cancelled")


@dataclass(frozen=True)
class Step:
    at: datetime
    status: str
    actor: str
    note: str = ""


@dataclass
class Order:
    order_id: str
    correlation_id: str
    case_id: str | None
    report_id: str | None
    tracking_code: str | None
    service_code: str
    description: str
    grid_code: str
    community_code: str
    status: str
    created_at: datetime
    origin: str = "referral"  # referral (from a report, via dispatch) | resident (ordered directly)
    resident_token_hash: str | None = None
    scheduled_at: datetime | None = None
    mode: str | None = None  # volunteer | team | claim: how it was last dispatched
    volunteer_id: str | None = None
    team_code: str | None = None
    accept_by: datetime | None = None
    attempts: int = 0  # offers and claim rounds so far
    excluded: list[str] = field(default_factory=list)
    confirmed_at: datetime | None = None
    completed_at: datetime | None = None
    hours: Decimal | None = None
    note: str | None = None
    photo_urls: list[str] = field(default_factory=list)
    rating: int | None = None
    comment: str | None = None
    updated_at: datetime | None = None
    version: int = 0
    events: list[tuple[str, dict]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)  # steps taken since loading, to be saved

    # --- creation ---------------------------------------------------------------------------------------------

    @classmethod
    def from_case_referral(cls, referral: dict, correlation_id: str, now: datetime) -> Order:
        """A referral from dispatch is an order like a resident's own: it waits for the centre's review."""
        order = cls(
            order_id=str(uuid.uuid4()),
            correlation_id=correlation_id,
            case_id=referral["case_id"],
            report_id=referral["report_id"],
            tracking_code=referral["tracking_code"],
            service_code=referral["service_code"],
            description=referral["description"],
            grid_code=referral["grid_code"],
            community_code=referral["community_code"],
            status="pending_review",
            created_at=now,
        )
        order._created(now, "dispatch")
        return order

    @classmethod
    def place(
        cls,
        service_code: str,
        description: str,
        grid_code: str,
        community_code: str,
        scheduled_at: datetime | None,
        resident_token_hash: str,
        now: datetime,
    ) -> Order:
        """A resident's own order (点单); the order is its own correlation id."""
        _check_booking(scheduled_at, now)
        order_id = str(uuid.uuid4())
        order = cls(
            order_id=order_id,
            correlation_id=order_id,
            case_id=None,
            report_id=None,
            tracking_code=None,
            service_code=service_code,
            description=description,
            grid_code=grid_code,
            community_code=community_code,
            status="pending_review",
            created_at=now,
            origin="resident",
            resident_token_hash=resident_token_hash,
            scheduled_at=scheduled_at,
        )
        order._created(now, "resident")
        return order

    def _created(self, now: datetime, actor: str) -> None:
        self._step(now, "pending_review", actor)
        self._emit(
            "order_created",
            service_code=self.service_code,
            grid_code=self.grid_code,
            status=self.status,
            origin=self.origin,
        )

    # --- review and dispatch (the centre) ---------------------------------------------------------------------

    def approve(self, actor: str, now: datetime, scheduled_at: datetime | None = None) -> None:
        self._require("approve", "pending_review")
        if scheduled_at is not None:
            _check_booking(scheduled_at, now)
            self.scheduled_at = scheduled_at
        self._step(now, "approved", actor)
        self._emit("order_approved", reviewed_by=actor, scheduled_at=self.scheduled_at)

    def reject(self, actor: str, reason: str, now: datetime) -> None:
        self._require("reject", "pending_review")
        self._step(now, "rejected", actor, reason)
        self._emit("order_rejected", reviewed_by=actor, reason=reason)

    def dispatch_to(self, volunteer_id: str, team_code: str, accept_by: datetime, actor: str, now: datetime) -> None:
        """Offer the order to one volunteer, who accepts or declines by `accept_by` (派单)."""
        self._require("dispatch", "approved", "open")
        self.mode, self.volunteer_id, self.team_code, self.accept_by = "volunteer", volunteer_id, team_code, accept_by
        self.attempts += 1
        self._step(now, "offered", actor, volunteer_id)
        self._dispatched()

    def open_for_claims(self, team_code: str | None, claim_by: datetime, actor: str, now: datetime) -> None:
        """Let eligible volunteers (of one team, or all) claim the order; the first claim wins (抢单)."""
        self._require("open for claims", "approved")
        self.mode = "team" if team_code else "claim"
        self.volunteer_id, self.team_code, self.accept_by = None, team_code, claim_by
        self.attempts += 1
        self._step(now, "open", actor, team_code or "")
        self._dispatched()

    def _dispatched(self) -> None:
        self._emit(
            "order_dispatched",
            service_code=self.service_code,
            grid_code=self.grid_code,
            volunteer_id=self.volunteer_id,
            team_code=self.team_code,
            accept_by=self.accept_by,
            mode=self.mode,
            attempt=self.attempts,
            scheduled_at=self.scheduled_at,
        )

    def unmatched(self, reason: str, now: datetime) -> None:
        """Automatic dispatch found no one (or tried enough times): the coordinator must step in."""
        self._require("give up matching", "approved")
        self._step(now, "approved", "system", f"unmatched: {reason}")
        self._emit(
            "order_unmatched",
            service_code=self.service_code,
            grid_code=self.grid_code,
            attempts=self.attempts,
            reason=reason,
        )

    # --- the volunteer's answer (接单) -------------------------------------------------------------------------

    def accept(self, volunteer_id: str, now: datetime) -> None:
        self._require("accept", "offered")
        self._own(volunteer_id)
        if self.accept_by is not None and now > self.accept_by:
            raise InvalidTransition("the time to accept this order has passed")
        self._accepted(volunteer_id, self.team_code, now, claimed=False)

    def claim(self, volunteer_id: str, team_code: str, now: datetime) -> None:
        self._require("claim", "open")
        if self.team_code is not None and team_code != self.team_code:
            raise NotAllowed(f"this order is open to team {self.team_code} only")
        self._accepted(volunteer_id, team_code, now, claimed=True)

    def _accepted(self, volunteer_id: str, team_code: str, now: datetime, claimed: bool) -> None:
        self.volunteer_id, self.team_code, self.accept_by = volunteer_id, team_code, None
        self._step(now, "accepted", volunteer_id, "claimed" if claimed else "")
        self._emit(
            "order_accepted",
            volunteer_id=volunteer_id,
            team_code=team_code,
            scheduled_at=self.scheduled_at,
            claimed=claimed,
        )

    def decline(self, volunteer_id: str, reason: str, now: datetime, automatic: bool = False) -> None:
        """The volunteer says no, or said nothing in time, or did not confirm: back to the centre, never to them."""
        self._require("decline", "offered", "accepted")
        self._own(volunteer_id)
        self._release(volunteer_id, now, "system" if automatic else volunteer_id, reason)
        self._emit("order_declined", volunteer_id=volunteer_id, reason=reason, automatic=automatic)

    def claims_expired(self, now: datetime) -> None:
        self._require("close the claim round", "open")
        self.team_code, self.accept_by = None, None
        self._step(now, "approved", "system", "nobody claimed in time")
        self._emit("order_unclaimed", service_code=self.service_code, attempts=self.attempts)

    def no_show(self, actor: str, now: datetime) -> None:
        self._require("report a no-show", "accepted", "confirmed")
        volunteer_id = self.volunteer_id
        self._release(volunteer_id, now, actor, "no-show")
        self._emit("order_no_show", volunteer_id=volunteer_id, reported_by=actor)

    def _release(self, volunteer_id: str, now: datetime, actor: str, reason: str) -> None:
        if volunteer_id not in self.excluded:
            self.excluded.append(volunteer_id)
        self.volunteer_id, self.team_code, self.accept_by, self.confirmed_at = None, None, None, None
        self._step(now, "approved", actor, reason)

    # --- before and during service -----------------------------------------------------------------------------

    def remind(self, confirm_by: datetime | None) -> None:
        """A reminder before the scheduled service; no state change."""
        self._require("remind", *WITH_VOLUNTEER)
        self._emit(
            "order_reminder_due",
            volunteer_id=self.volunteer_id,
            service_code=self.service_code,
            scheduled_at=self.scheduled_at,
            confirm_by=confirm_by,
        )

    def confirm(self, volunteer_id: str, now: datetime) -> None:
        self._require("confirm", "accepted")
        self._own(volunteer_id)
        self.confirmed_at = now
        self._step(now, "confirmed", volunteer_id)
        self._emit("order_confirmed", volunteer_id=volunteer_id, scheduled_at=self.scheduled_at)

    def start(self, volunteer_id: str, now: datetime) -> None:
        self._require("start", "accepted", "confirmed")
        self._own(volunteer_id)
        self._step(now, "in_service", volunteer_id)
        self._emit("order_started", volunteer_id=volunteer_id)

    def complete(
        self, volunteer_id: str, hours: Decimal, note: str, photo_urls: list[str], max_hours: Decimal, now: datetime
    ) -> None:
        """Service done, with proof: the volunteer's note and photos, and the hours it took."""
        self._require("complete", *WITH_VOLUNTEER)
        self._own(volunteer_id)
        hours = money(hours)
        if not Decimal("0.25") <= hours <= max_hours:
            raise InvalidTransition(f"hours must be between 0.25 and {max_hours} for {self.service_code}")
        self.hours, self.note, self.photo_urls, self.completed_at = hours, note, list(photo_urls), now
        self._step(now, "completed", volunteer_id, note[:200])
        self._emit(
            "order_completed",
            volunteer_id=volunteer_id,
            hours=hours,
            note=note,
            photo_urls=self.photo_urls,
            service_code=self.service_code,
            team_code=self.team_code,
        )

    def rate(self, rating: int, comment: str | None, actor: str, now: datetime) -> None:
        """The resident's rating closes the order (评单)."""
        self._require("rate", "completed")
        if not 1 <= rating <= 5:
            raise InvalidTransition("a rating is 1 to 5")
        self.rating, self.comment = rating, comment
        self._step(now, "closed", actor, f"rated {rating}")
        self._emit("order_rated", volunteer_id=self.volunteer_id, rating=rating, comment=comment)

    def cancel(self, actor: str, reason: str, now: datetime) -> None:
        self._require("cancel", *CANCELLABLE)
        previous, volunteer_id = self.status, self.volunteer_id
        self.accept_by = None
        self._step(now, "cancelled", actor, reason)
        self._emit(
            "order_cancelled", cancelled_by=actor, reason=reason, previous_status=previous, volunteer_id=volunteer_id
        )

    # --- bookkeeping ---------------------------------------------------------------------------------------------

    def _require(self, action: str, *statuses: str) -> None:
        if self.status not in statuses:
            raise InvalidTransition(
                f"cannot {action} an order that is {self.status}; it must be {' or '.join(statuses)}"
            )

    def _own(self, volunteer_id: str) -> None:
        if self.volunteer_id != volunteer_id:
            raise NotAllowed("this order is not yours")

    def _step(self, now: datetime, status: str, actor: str, note: str = "") -> None:
        self.status, self.updated_at = status, now
        self.steps.append(Step(now, status, actor, note))

    def _emit(self, event_type: str, **fields) -> None:
        self.events.append((event_type, {"order_id": self.order_id, "case_id": self.case_id, **fields}))


def _check_booking(scheduled_at: datetime | None, now: datetime) -> None:
    if scheduled_at is not None and not now < scheduled_at <= now + BOOKING_HORIZON:
        raise InvalidTransition(f"the service time must be in the future, within {BOOKING_HORIZON.days} days")
