"""How dispute cases and sessions look on the wire: the public view (status, codes, dates, path) and the
confidential record for its permitted readers."""

from __future__ import annotations

from mediation.domain.model import DisputeCase, Reader, Stint
from mediation.domain.sessions import Session


def _iso(value):
    return value.isoformat() if value else None


def stint_view(stint: Stint) -> dict:
    return {
        "seq": stint.seq,
        "channel": stint.channel_code,
        "state": stint.state,
        "referred_at": _iso(stint.referred_at),
        "accepted_at": _iso(stint.accepted_at),
        "ended_at": _iso(stint.ended_at),
        "due_at": _iso(stint.due_at),
        "extensions": [{"days": e["days"], "approval": e["approval"], "at": e["at"]} for e in stint.extensions],
    }


def dispute_view(d: DisputeCase) -> dict:
    agreement = d.agreement or {}
    return {
        "dispute_id": d.dispute_id,
        "case_code": d.case_code,
        "case_id": d.case_id,
        "tracking_code": d.tracking_code,
        "correlation_id": d.correlation_id,
        "source": d.source,
        "category": d.category_code,
        "dispute_type": d.dispute_type,
        "channel": d.channel_code,
        "state": d.state,
        "grid_code": d.grid_code,
        "mediator_id": d.mediator_id,
        "opened_at": d.opened_at.isoformat(),
        "deadline_at": d.deadline_at.isoformat(),
        "path": [stint_view(s) for s in d.path],
        "party_ids": [p.party_id for p in d.parties],
        "agreement": {
            "agreement_id": agreement["agreement_id"],
            "reached_at": agreement["reached_at"],
            "confirmation_due_at": agreement["confirmation_due_at"],
            "confirmation_requested_at": agreement["confirmation_requested_at"],
            "follow_up_due_at": agreement["follow_up_due_at"],
        }
        if agreement
        else None,
    }


def session_view(s: Session, with_minutes: bool) -> dict:
    view = {
        "session_id": s.session_id,
        "dispute_id": s.dispute_id,
        "channel": s.channel_code,
        "starts_at": s.starts_at.isoformat(),
        "ends_at": s.ends_at.isoformat(),
        "online": s.online,
        "room_code": s.room_code,
        "mediator_id": s.mediator_id,
        "state": s.state,
        "partner_ref": s.partner_ref,
    }
    if with_minutes:
        view.update(attendance=s.attendance, minutes=s.minutes)
    return view


def record_view(d: DisputeCase, sessions: list[Session], reader: Reader) -> dict:
    """Staff of the case see every party's contact data; a party sees its own, and the others' names and roles."""
    parties = []
    for p in d.parties:
        own = reader.kind == "staff" or reader.party_id == p.party_id
        parties.append(
            {
                "party_id": p.party_id,
                "role": p.role,
                "name": p.name,
                "phone": p.phone if own else None,
                "email": p.email if own else None,
                "online_consent": p.online_consent,
            }
        )
    return {
        **dispute_view(d),
        "statement": d.description,
        "amount_yuan": str(d.amount_yuan) if d.amount_yuan is not None else None,
        "parties": parties,
        "sessions": [session_view(s, with_minutes=True) for s in sessions],
        "agreement": d.agreement,
        "path": [{**stint_view(s), "reason": s.reason, "partner_ref": s.partner_ref} for s in d.path],
        "history": d.history,
    }
