"""The dispute case: one code (一案一码) that survives every referral and transfer, with its full path.

A case moves through channels. Each hop is a `Stint` on its path: referred to a channel, accepted or declined,
then ended by an agreement, a failure, a withdrawal or a transfer to the next channel. The current stint carries
the deadline that the law of its channel sets. The aggregate records the integration events it raises in `events`;
they carry status, codes and dates, never statements.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from mediation.domain.channels import Catalogue, Channel, today_local
from mediation.domain.deadlines import CST, NO_HOLIDAYS, Period, WorkingCalendar
from mediation.domain.errors import (
    ConsentMissing,
    ExtensionRefused,
    InvalidRequest,
    NotFromThisPartner,
    UnknownReference,
    WindowClosed,
    WrongState,
)

OPEN_STATES = ("referred", "accepted", "declined")  # the case is still being worked in some channel
PARTY_ROLES = ("applicant", "respondent", "third_party")
JUDICIAL_CONFIRMATION = Period(30)  # 人民调解法 art. 33: within 30 days of the agreement taking effect
FOLLOW_UP_HOUR = time(9, 0)


def new_case_code(now: datetime) -> str:
    return f"MD-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"


@dataclass
class Stint:
    """One hop of the case's path: its channel, how it was answered, and the deadline running in it."""

    seq: int
    channel_code: str
    referral_id: str
    referred_at: datetime
    state: str  # referred | accepted | declined | transferred | agreed | failed | withdrawn
    due_at: datetime
    accepted_at: datetime | None = None
    ended_at: datetime | None = None
    reason: str | None = None
    partner_ref: str | None = None
    extensions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def extended_days(self) -> int:
        return sum(e["days"] for e in self.extensions)


@dataclass
class Party:
    """A party to the dispute. Contact data stays in mediation; events name the party only as `party:<id>`."""

    party_id: str
    role: str
    name: str
    phone: str | None = None
    email: str | None = None
    online_consent: bool | None = None
    consent_at: datetime | None = None
    key_hash: str | None = None  # the party's own access key, hashed: how a party reads its own case

    @property
    def recipient_id(self) -> str:
        return f"party:{self.party_id}"


@dataclass(frozen=True)
class Reader:
    """Who asks to read a confidential record: a staff principal, or a party proved by its access key."""

    kind: str  # "staff" or "party"
    user_id: str
    role: str | None = None
    unit: str | None = None
    party_id: str | None = None


@dataclass
class DisputeCase:
    dispute_id: str
    case_code: str
    correlation_id: str
    case_id: str | None
    report_id: str | None
    tracking_code: str | None
    category_code: str
    description: str
    grid_code: str | None
    community_code: str | None
    channel_code: str
    state: str
    opened_at: datetime
    deadline_at: datetime
    events: list[tuple[str, dict]] = field(default_factory=list)
    source: str = "dispatch"
    dispute_type: str = "other"
    amount_yuan: Decimal | None = None
    known_on: date | None = None
    mediator_id: str | None = None
    path: list[Stint] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    agreement: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    # ---- opening -------------------------------------------------------------------------------------------------

    @classmethod
    def open_from_referral(
        cls,
        referral: dict,
        channel: Channel,
        correlation_id: str,
        now: datetime,
        catalogue: Catalogue | None = None,
        calendar: WorkingCalendar = NO_HOLIDAYS,
    ) -> DisputeCase:
        """dispatch referred a dispute report: it starts in the channel its category routes to."""
        dispute = cls._new(
            correlation_id=correlation_id,
            now=now,
            source="dispatch",
            case_id=referral["case_id"],
            report_id=referral["report_id"],
            tracking_code=referral["tracking_code"],
            category_code=referral["category_code"],
            description=referral["description"],
            grid_code=referral["grid_code"],
            community_code=referral["community_code"],
            dispute_type=catalogue.dispute_type_of(referral["category_code"]) if catalogue else "other",
        )
        dispute._open(channel, now, calendar, by="dispatch")
        return dispute

    @classmethod
    def open_walk_in(
        cls,
        *,
        category_code: str,
        dispute_type: str,
        description: str,
        channel: Channel,
        now: datetime,
        by: str,
        amount_yuan: Decimal | None = None,
        known_on: date | None = None,
        grid_code: str | None = None,
        community_code: str | None = None,
        source: str = "walk_in",
        correlation_id: str | None = None,
        calendar: WorkingCalendar = NO_HOLIDAYS,
    ) -> DisputeCase:
        """A resident walks into the centre, or a partner department files a dispute with the centre."""
        dispute = cls._new(
            correlation_id=correlation_id or "",
            now=now,
            source=source,
            case_id=None,
            report_id=None,
            tracking_code=None,
            category_code=category_code,
            description=description,
            grid_code=grid_code,
            community_code=community_code,
            dispute_type=dispute_type,
            amount_yuan=amount_yuan,
            known_on=known_on,
        )
        dispute.correlation_id = correlation_id or dispute.dispute_id
        channel.eligibility.check(channel.code, dispute_type, amount_yuan, known_on, today_local(now))
        dispute._open(channel, now, calendar, by=by)
        return dispute

    @classmethod
    def _new(cls, *, correlation_id: str, now: datetime, **values) -> DisputeCase:
        return cls(
            dispute_id=str(uuid.uuid4()),
            case_code=new_case_code(now),
            correlation_id=correlation_id,
            channel_code="",
            state="referred",
            opened_at=now,
            deadline_at=now,
            **values,
        )

    def _open(self, channel: Channel, now: datetime, calendar: WorkingCalendar, by: str) -> None:
        self._enter(channel, now, calendar)
        self._log(now, by, "opened", channel=channel.code, source=self.source)
        self.events.append(
            (
                "dispute_case_opened",
                {
                    **self._fact(),
                    "category_code": self.category_code,
                    "grid_code": self.grid_code,
                    "deadline_at": self.deadline_at,
                    "state": self.state,
                    "source": self.source,
                    "dispute_type": self.dispute_type,
                },
            )
        )
        self._announce_referral(channel)

    def _enter(self, channel: Channel, now: datetime, calendar: WorkingCalendar) -> None:
        """Start the next hop. A channel of the centre accepts at once; a partner's channel must answer first."""
        seq = len(self.path) + 1
        if channel.partner and channel.respond:
            state, due = "referred", channel.respond.end(now, calendar)
        else:
            state, due = "accepted", channel.limit.end(now, calendar)
        stint = Stint(seq, channel.code, str(uuid.uuid4()), now, state, due, now if state == "accepted" else None)
        self.path.append(stint)
        self.channel_code, self.state, self.deadline_at = channel.code, state, due
        self.mediator_id = None

    def _announce_referral(self, channel: Channel) -> None:
        if channel.partner:
            self.events.append(
                (
                    "dispute_referred",
                    {
                        **self._fact(),
                        "referral_id": self.stint.referral_id,
                        "partner_code": channel.partner,
                        "seq": self.stint.seq,
                        "category_code": self.category_code,
                        "dispute_type": self.dispute_type,
                        "amount_yuan": str(self.amount_yuan) if self.amount_yuan is not None else None,
                        "party_count": len(self.parties),
                        "respond_by": self.stint.due_at,
                    },
                )
            )

    # ---- the path ------------------------------------------------------------------------------------------------

    @property
    def stint(self) -> Stint:
        return self.path[-1]

    def _require(self, *states: str) -> None:
        if self.state not in states:
            raise WrongState(f"dispute {self.case_code} is {self.state}; this needs it {' or '.join(states)}")

    def check_partner(self, partner: str, referral_id: str, channel: Channel) -> None:
        """A partner's answer must come from the partner that runs the current channel, about the current referral."""
        if channel.partner != partner:
            raise NotFromThisPartner(f"{partner} does not run channel {channel.code} of {self.case_code}")
        if referral_id != self.stint.referral_id:
            raise NotFromThisPartner(f"referral {referral_id} is not the current referral of {self.case_code}")

    def accept(
        self,
        channel: Channel,
        now: datetime,
        by: str,
        calendar: WorkingCalendar = NO_HOLIDAYS,
        partner_ref: str | None = None,
    ) -> None:
        self._require("referred")
        stint = self.stint
        stint.state, stint.accepted_at, stint.partner_ref = "accepted", now, partner_ref
        stint.due_at = channel.limit.end(now, calendar)
        self.state, self.deadline_at = "accepted", stint.due_at
        self._log(now, by, "accepted", channel=channel.code, partner_ref=partner_ref)
        self.events.append(("mediation_accepted", {**self._fact(), "deadline_at": self.deadline_at, "seq": stint.seq}))

    def decline(self, reason: str, now: datetime, by: str) -> None:
        self._require("referred")
        self._end_stint("declined", reason, now)
        self.state = "declined"
        self._log(now, by, "declined", channel=self.channel_code, reason=reason)
        self.events.append(("mediation_declined", {**self._fact(), "reason": reason, "seq": self.stint.seq}))

    def transfer(
        self, to: Channel, reason: str, now: datetime, by: str, calendar: WorkingCalendar = NO_HOLIDAYS
    ) -> None:
        """Mediation in this channel failed or was declined: the case moves on, keeping its code."""
        self._require("accepted", "declined", "failed", "referred")
        if to.code == self.channel_code and self.state != "declined":
            raise InvalidRequest(f"{self.case_code} is already in {to.code}")
        to.eligibility.check(to.code, self.dispute_type, self.amount_yuan, self.known_on, today_local(now))
        previous = self.channel_code
        if self.stint.ended_at is None:
            self._end_stint("transferred", reason, now)
        self._enter(to, now, calendar)
        self._log(now, by, "transferred", channel=to.code, from_channel=previous, reason=reason)
        self.events.append(
            (
                "mediation_transferred",
                {
                    **self._fact(),
                    "to_channel_code": to.code,
                    "from_channel_code": previous,
                    "reason": reason,
                    "deadline_at": self.deadline_at,
                    "state": self.state,
                    "path": [s.channel_code for s in self.path],
                },
            )
        )
        self._announce_referral(to)

    def _end_stint(self, state: str, reason: str | None, now: datetime) -> None:
        self.stint.state, self.stint.reason, self.stint.ended_at = state, reason, now

    # ---- deadlines -----------------------------------------------------------------------------------------------

    def extend(
        self,
        channel: Channel,
        days: int,
        now: datetime,
        by: str,
        *,
        approved_by: str | None = None,
        approval_ref: str | None = None,
        consenting_party_ids: list[str] | tuple[str, ...] = (),
        calendar: WorkingCalendar = NO_HOLIDAYS,
    ) -> None:
        """Extend the running limit, within the channel's cap and with the approval its law requires."""
        self._require("accepted")
        rule = channel.extension
        if rule is None:
            raise ExtensionRefused(f"the limit of {channel.code} cannot be extended")
        stint = self.stint
        if days < 1:
            raise ExtensionRefused("an extension is at least one day")
        if len(stint.extensions) >= rule.max_times:
            raise ExtensionRefused(f"{channel.code} allows {rule.max_times} extension(s); already used")
        if stint.extended_days + days > rule.max_days:
            raise ExtensionRefused(
                f"{channel.code} extends by at most {rule.max_days} days in all; "
                f"{rule.max_days - stint.extended_days} left"
            )
        if rule.approval == "director" and not (approved_by and approval_ref):
            raise ExtensionRefused(
                f"extending {channel.code} needs the director's approval (approved_by, approval_ref)"
            )
        if rule.approval == "all_parties":
            missing = {p.party_id for p in self.parties} - set(consenting_party_ids)
            if not self.parties or missing:
                raise ExtensionRefused(
                    f"extending {channel.code} needs every party's consent; missing: {sorted(missing) or 'no parties'}"
                )
        stint.due_at = Period(days, channel.limit_unit).extend(stint.due_at, calendar)
        self.deadline_at = stint.due_at
        stint.extensions.append(
            {
                "days": days,
                "unit": channel.limit_unit,
                "approval": rule.approval,
                "approved_by": approved_by,
                "approval_ref": approval_ref,
                "consenting_party_ids": sorted(consenting_party_ids),
                "at": now.isoformat(),
                "new_due_at": stint.due_at.isoformat(),
            }
        )
        self._log(now, by, "extended", channel=channel.code, days=days, due_at=stint.due_at.isoformat())
        self.events.append(
            (
                "mediation_deadline_extended",
                {**self._fact(), "deadline_at": self.deadline_at, "days": days, "extension": len(stint.extensions)},
            )
        )

    def deadline_reached(self, kind: str, seq: int, due_at: datetime, now: datetime) -> bool:
        """A warning or overdue timer fired. It speaks only if the hop and its deadline are still the ones it was
        set for (a transfer, an answer or an extension since then re-armed or cancelled it)."""
        stint = self.stint
        if self.state not in ("referred", "accepted") or stint.seq != seq or stint.due_at != due_at:
            return False
        event_type = "mediation_deadline_approaching" if kind == "warning" else "mediation_overdue"
        self._log(now, "timer", event_type, channel=self.channel_code, due_at=due_at.isoformat())
        self.events.append((event_type, {**self._fact(), "deadline_at": due_at, "state": self.state, "seq": seq}))
        return True

    # ---- parties -------------------------------------------------------------------------------------------------

    def add_party(
        self,
        role: str,
        name: str,
        now: datetime,
        by: str,
        phone: str | None = None,
        email: str | None = None,
        key_hash: str | None = None,
    ) -> Party:
        if role not in PARTY_ROLES:
            raise InvalidRequest(f"a party's role is one of {', '.join(PARTY_ROLES)}, not {role!r}")
        if not name or not name.strip():
            raise InvalidRequest("a party needs a name")
        party = Party(str(uuid.uuid4()), role, name.strip(), phone, email, key_hash=key_hash)
        self.parties.append(party)
        self._log(now, by, "party_added", party_id=party.party_id, role=role)
        self.events.append(
            (
                "party_contact_registered",
                {
                    "recipient_id": party.recipient_id,
                    "dispute_id": self.dispute_id,
                    "name": party.name,
                    "phone": phone,
                    "email": email,
                },
            )
        )
        return party

    def party(self, party_id: str) -> Party:
        for party in self.parties:
            if party.party_id == party_id:
                return party
        raise UnknownReference(f"{self.case_code} has no party {party_id!r}")

    def record_consent(self, party_id: str, online: bool, now: datetime, by: str) -> None:
        party = self.party(party_id)
        party.online_consent, party.consent_at = online, now
        self._log(now, by, "online_consent", party_id=party_id, consent=online)

    def require_online_consent(self) -> None:
        if not self.parties:
            raise ConsentMissing(f"{self.case_code} has no registered parties to consent to an online session")
        missing = [p.party_id for p in self.parties if p.online_consent is not True]
        if missing:
            raise ConsentMissing(f"an online session needs every party's consent; missing: {', '.join(missing)}")

    def assign_mediator(self, mediator_id: str, now: datetime, by: str) -> None:
        self._require("accepted")
        self.mediator_id = mediator_id
        self._log(now, by, "mediator_assigned", mediator_id=mediator_id, channel=self.channel_code)

    # ---- outcomes ------------------------------------------------------------------------------------------------

    def reach_agreement(
        self,
        terms: str,
        obligations: list[dict],
        now: datetime,
        by: str,
        calendar: WorkingCalendar = NO_HOLIDAYS,
        follow_up_on: date | None = None,
    ) -> dict[str, Any]:
        """The parties agree. A partner's channel keeps the terms in its own system and gives only the date by
        which they are to be performed (`follow_up_on`)."""
        self._require("accepted")
        if not terms or not terms.strip():
            raise InvalidRequest("an agreement needs its terms")
        if not obligations and follow_up_on is None:
            raise InvalidRequest("an agreement names at least one obligation of a party")
        clean = []
        for item in obligations:
            self.party(item["party_id"])
            if item["due_on"] < today_local(now):
                raise InvalidRequest(f"obligation due on {item['due_on']} lies in the past")
            clean.append({"party_id": item["party_id"], "obligation": item["obligation"], "due_on": item["due_on"]})
        last_due = max([o["due_on"] for o in clean] + ([follow_up_on] if follow_up_on else []))
        follow_up = datetime.combine(last_due + timedelta(days=1), FOLLOW_UP_HOUR, CST).astimezone(now.tzinfo)
        self.agreement = {
            "agreement_id": str(uuid.uuid4()),
            "terms": terms.strip(),
            "obligations": [{**o, "due_on": o["due_on"].isoformat()} for o in clean],
            "reached_at": now.isoformat(),
            "channel_code": self.channel_code,
            "confirmation_due_at": JUDICIAL_CONFIRMATION.end(now, calendar).isoformat(),
            "confirmation_requested_at": None,
            "follow_up_due_at": follow_up.isoformat(),
            "follow_up": None,
        }
        self._end_stint("agreed", None, now)
        self.state = "agreed"
        self._log(now, by, "agreement_reached", agreement_id=self.agreement["agreement_id"])
        self.events.append(
            (
                "agreement_reached",
                {
                    **self._fact(),
                    "agreement_id": self.agreement["agreement_id"],
                    "summary": f"调解协议：{len(clean)} 项义务，履行期限 {last_due.isoformat()}",
                    "confirmation_due_at": datetime.fromisoformat(self.agreement["confirmation_due_at"]),
                    "follow_up_due_at": follow_up,
                },
            )
        )
        return self.agreement

    def request_judicial_confirmation(self, now: datetime, by: str) -> None:
        self._require("agreed", "closed")
        due = datetime.fromisoformat(self.agreement["confirmation_due_at"])
        if now > due:
            raise WindowClosed(f"judicial confirmation had to be requested by {due.isoformat()}")
        if self.agreement["confirmation_requested_at"]:
            raise WrongState("judicial confirmation was already requested")
        self.agreement["confirmation_requested_at"] = now.isoformat()
        self._log(now, by, "judicial_confirmation_requested")
        self.events.append(
            (
                "judicial_confirmation_requested",
                {**self._fact(), "agreement_id": self.agreement["agreement_id"], "requested_at": now},
            )
        )

    def fail(self, reason: str, now: datetime, by: str) -> None:
        self._require("accepted", "declined")
        self._conclude("failed", reason, now, by)
        self.events.append(("mediation_failed", {**self._fact(), "reason": reason, "withdrawn": False}))

    def withdraw(self, reason: str, now: datetime, by: str) -> None:
        self._require(*OPEN_STATES)
        self._conclude("withdrawn", reason, now, by)
        self.events.append(("mediation_failed", {**self._fact(), "reason": f"撤回：{reason}", "withdrawn": True}))

    def _conclude(self, state: str, reason: str, now: datetime, by: str) -> None:
        if not reason or not reason.strip():
            raise InvalidRequest("say why")
        if self.stint.ended_at is None:
            self._end_stint(state, reason, now)
        self.state = state
        self._log(now, by, state, reason=reason)

    def record_follow_up(self, honoured: bool, satisfaction: int, notes: str, now: datetime, by: str) -> None:
        """The follow-up visit (回访): is the agreement honoured, and how satisfied are the parties (1–5)."""
        self._require("agreed")
        if satisfaction not in range(1, 6):
            raise InvalidRequest("satisfaction is 1 (very dissatisfied) to 5 (very satisfied)")
        self.agreement["follow_up"] = {
            "at": now.isoformat(),
            "honoured": honoured,
            "satisfaction": satisfaction,
            "notes": notes,
            "by": by,
        }
        self.state = "closed"
        self._log(now, by, "followed_up", honoured=honoured, satisfaction=satisfaction)
        self.events.append(
            ("mediation_followed_up", {**self._fact(), "honoured": honoured, "satisfaction": satisfaction})
        )

    def follow_up_due(self, now: datetime) -> bool:
        if self.state != "agreed":
            return False
        self._log(now, "timer", "follow_up_due")
        self.events.append(
            (
                "mediation_follow_up_due",
                {**self._fact(), "agreement_id": self.agreement["agreement_id"], "follow_up_due_at": now},
            )
        )
        return True

    # ---- confidentiality -----------------------------------------------------------------------------------------

    def may_read(self, reader: Reader, channel: Channel) -> bool:
        """Statements and minutes: the case's mediator, the current channel's staff, and the parties themselves."""
        if reader.kind == "party":
            return any(p.party_id == reader.party_id for p in self.parties)
        if reader.role == "mediator":
            return reader.user_id == self.mediator_id or reader.unit == channel.code
        if reader.role == "department":
            return channel.partner is not None and reader.unit == channel.partner
        return False

    # ---- helpers -------------------------------------------------------------------------------------------------

    def _fact(self) -> dict[str, Any]:
        return {
            "dispute_id": self.dispute_id,
            "case_code": self.case_code,
            "case_id": self.case_id,
            "channel_code": self.channel_code,
        }

    def _log(self, now: datetime, by: str, action: str, **detail: Any) -> None:
        self.history.append({"at": now.isoformat(), "by": by, "action": action, **detail})
