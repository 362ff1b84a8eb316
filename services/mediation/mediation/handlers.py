"""mediation's service layer: load, call the domain, commit. No HTTP and no nameko here."""

from __future__ import annotations

from datetime import UTC, datetime

from gridlink.contracts import Envelope
from mediation.adapters.repository import MediationUnitOfWork
from mediation.domain.channels import first_channel
from mediation.domain.errors import DisputeNotFound
from mediation.domain.model import DisputeCase


def open_dispute(uow: MediationUnitOfWork, event: Envelope, now: datetime | None = None) -> None:
    """case_referred_to_mediation → a dispute case in its first channel, with that channel's time limit."""
    referral = event.payload
    if uow.disputes.by_case(referral["case_id"]) is None:
        channel = first_channel(referral["category_code"])
        dispute = DisputeCase.open_from_referral(referral, channel, event.correlation_id, now or datetime.now(UTC))
        uow.disputes.add(dispute)
        for event_type, payload in dispute.events:
            uow.publish(event_type, payload)
    uow.commit()


def get_dispute(uow: MediationUnitOfWork, dispute_id: str) -> DisputeCase:
    with uow:
        dispute = uow.disputes.get(dispute_id) or uow.disputes.by_case(dispute_id)
    if dispute is None:
        raise DisputeNotFound(f"no dispute case {dispute_id!r}")
    return dispute


def list_disputes(uow: MediationUnitOfWork, limit: int = 100) -> list[DisputeCase]:
    with uow:
        return uow.disputes.list(limit)
