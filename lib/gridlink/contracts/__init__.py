"""GridLink's integration-event contracts.

Partner departments can use this package on its own: it needs marshmallow and nothing from any service,
nameko or the database layer.
"""

from gridlink.contracts.envelope import Envelope, EnvelopeSchema, InvalidEvent, new_envelope, parse_envelope
from gridlink.contracts.registry import CONTRACTS, Contract, contract_for, needs_consumer, validate_payload

__all__ = [
    "CONTRACTS",
    "Contract",
    "Envelope",
    "EnvelopeSchema",
    "InvalidEvent",
    "contract_for",
    "needs_consumer",
    "new_envelope",
    "parse_envelope",
    "validate_payload",
]
