"""Placing a report on exactly one grid, from coordinates or from the unified address base (统一地址库)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from gridlink.refdata import Address, Category, GridMap
from intake.domain.addressing import AddressBook
from intake.domain.classification import Rules
from intake.domain.duplicates import DuplicateRule, DuplicateRules
from intake.domain.errors import OutsideDistrict, UnknownAddress
from intake.domain.iot import Sensors
from intake.domain.model import Placement
from intake.domain.open311 import ServiceAttribute


@dataclass(frozen=True)
class Group:
    code: str
    name: str
    name_en: str
    categories: tuple[str, ...]


@dataclass(frozen=True)
class IntakeReference:
    """The part of the district's data intake needs: the grid map, the address base, the taxonomy and its rules,
    the Open311 service definitions, duplicate settings, sensors and API clients."""

    grid_map: GridMap
    categories: dict[str, Category]
    addresses: dict[str, Address]
    addresses_by_text: dict[str, Address]
    groups: dict[str, Group] = field(default_factory=dict)
    rules: Rules = field(default_factory=lambda: Rules({}, {}))
    duplicates: DuplicateRules = field(default_factory=lambda: DuplicateRules(DuplicateRule(0.0, timedelta(0)), {}))
    attributes: dict[str, list[ServiceAttribute]] = field(default_factory=dict)
    sensors: Sensors = field(default_factory=lambda: Sensors({}, {}))
    unit_names: dict[str, str] = field(default_factory=dict)  # org unit code -> its name, for agency_responsible
    open311: dict = field(default_factory=dict)  # jurisdiction, discovery text
    book: AddressBook = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "book", AddressBook(self.addresses.values()))

    def group_of(self, category_code: str) -> Group | None:
        return next((g for g in self.groups.values() if category_code in g.categories), None)

    def unit_name(self, code: str) -> str:
        return self.unit_names.get(code, code)


def place(
    ref: IntakeReference,
    *,
    lat: float | None = None,
    long: float | None = None,
    address_id: str | None = None,
    address: str | None = None,
) -> Placement:
    """Coordinates win when given; otherwise the address id, then the address text (normalised and matched)."""
    found_id = None
    if lat is None or long is None:
        known = _find_address(ref, address_id, address)
        lat, long, address, found_id = known.lat, known.long, known.address, known.address_id
    grid = ref.grid_map.locate(lat, long)
    if grid is None:
        raise OutsideDistrict(f"({lat}, {long}) lies on none of the district's {len(ref.grid_map)} grids")
    return Placement(grid.code, grid.community_code, grid.sub_centre_code, lat, long, address, found_id)


def _find_address(ref: IntakeReference, address_id: str | None, text: str | None) -> Address:
    if address_id:
        if address_id in ref.addresses:
            return ref.addresses[address_id]
        raise UnknownAddress(f"address_id {address_id!r} is not in the unified address base")
    if text:
        return ref.addresses_by_text.get(text.strip()) or ref.book.match(text)
    raise UnknownAddress("a location is needed: lat and long, an address_id, or an address")
