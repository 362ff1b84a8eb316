"""Which payload schema belongs to which event type and version, and who may publish it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError

from gridlink.contracts.compiled import CompiledLoad
from gridlink.contracts.envelope import InvalidEvent
from gridlink.contracts.events import dispatch, intake, mediation, notification, partners, volunteer


@cache
def _reader(schema: type[Schema]) -> CompiledLoad:
    """One instance per schema: building a marshmallow Schema per event cost ~0.25 ms (docs/performance.md)."""
    return CompiledLoad(schema(unknown=EXCLUDE))


@cache
def _writer(schema: type[Schema]) -> Schema:
    return schema()


@cache
def _checker(schema: type[Schema]) -> CompiledLoad:
    return CompiledLoad(_writer(schema))


@dataclass(frozen=True)
class Contract:
    type: str
    version: int
    source: str
    schema: type[Schema]
    summary: str
    # Types several publishers share (partner departments): any of these may publish it; empty means only `source`.
    sources: tuple[str, ...] = ()
    # False for a type published for whoever binds it (the events module's NO_CONSUMER_NEEDED): no queue bound to it
    # is no fault, and the publisher writes none while none is (gridlink/runtime/audience.py).
    needs_consumer: bool = True

    def published_by(self, source: str) -> bool:
        return source == self.source or source in self.sources

    def load(self, payload: Any) -> dict[str, Any]:
        """Validate a received payload; fields this version does not know are dropped, as consumers must ignore them."""
        if not isinstance(payload, dict):
            raise InvalidEvent(f"{self.type} v{self.version}: payload is not an object")
        try:
            return _reader(self.schema).load(payload)
        except ValidationError as exc:
            raise InvalidEvent(
                f"{self.type} v{self.version}: payload does not match the contract", exc.messages
            ) from exc

    def dump(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Serialise an outgoing payload and check it, so that nothing invalid ever reaches the outbox."""
        wire = self.serialise(payload)
        errors = _checker(self.schema).validate(wire)
        if errors:
            raise InvalidEvent(f"{self.type} v{self.version}: outgoing payload does not match the contract", errors)
        return wire

    def serialise(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The wire form of a payload that `load` gave, unchecked: it passed the contract on arrival, and checking
        it again (as `dump` does) cost a consumer that stores what it received a second validation per event."""
        return _writer(self.schema).dump(payload)


def _collect(modules=(intake, dispatch, mediation, notification, volunteer)) -> dict[tuple[str, int], Contract]:
    found: dict[tuple[str, int], Contract] = {}
    for module in modules:
        sources = getattr(module, "SOURCES", ())
        optional = getattr(module, "NO_CONSUMER_NEEDED", ())
        for (event_type, version), (schema, summary) in module.EVENTS.items():
            found[(event_type, version)] = Contract(
                event_type, version, module.SOURCE, schema, summary, sources, event_type not in optional
            )
    return found


CONTRACTS: dict[tuple[str, int], Contract] = _collect()
# What partner departments publish into the platform on their own exchanges: kept apart from what the services
# publish, and found by `contract_for` all the same.
PARTNER_CONTRACTS: dict[tuple[str, int], Contract] = _collect((partners,))
_ALL = {**CONTRACTS, **PARTNER_CONTRACTS}
# The newest version of each type, found once rather than by scanning every contract on each publish.
_NEWEST: dict[str, int] = {t: max(v for (u, v) in _ALL if u == t) for (t, _) in _ALL}


def contract_for(event_type: str, version: int | None = None) -> Contract:
    """The contract for a type at a version; with no version, the newest one (what publishers send by default)."""
    if version is None:
        version = _NEWEST.get(event_type)
        if version is None:
            raise InvalidEvent(f"unknown event type {event_type!r}")
    try:
        return _ALL[(event_type, version)]
    except KeyError:
        raise InvalidEvent(f"unknown event type {event_type!r} at version {version}") from None


# Types published for whoever binds them: NO_CONSUMER_NEEDED's.
_OPTIONAL_AUDIENCE = frozenset(c.type for c in _ALL.values() if not c.needs_consumer)


def needs_consumer(event_type: str) -> bool:
    """Whether an event of this type that no queue receives is a fault to report (all but NO_CONSUMER_NEEDED's)."""
    return event_type not in _OPTIONAL_AUDIENCE


def validate_payload(event_type: str, version: int, payload: Any) -> dict[str, Any]:
    return contract_for(event_type, version).load(payload)
