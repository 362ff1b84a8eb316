"""Placing a report on exactly one grid, from coordinates or from the unified address base (统一地址库)."""

from __future__ import annotations

from dataclasses import dataclass

from gridlink.refdata import Address, Category, GridMap
from intake.domain.errors import OutsideDistrict, UnknownAddress
from intake.domain.model import Placement


@dataclass(frozen=True)
class IntakeReference:
    """The part of the district's data intake needs: the grid map, the address base and the taxonomy."""

    grid_map: GridMap
    categories: dict[str, Category]
    addresses: dict[str, Address]
    addresses_by_text: dict[str, Address]


def place(
    ref: IntakeReference,
    *,
    lat: float | None = None,
    long: float | None = None,
    address_id: str | None = None,
    address: str | None = None,
) -> Placement:
    """Coordinates win when given; otherwise the address id, then the exact address text, is looked up."""
    if lat is None or long is None:
        known = _find_address(ref, address_id, address)
        lat, long, address = known.lat, known.long, known.address
    grid = ref.grid_map.locate(lat, long)
    if grid is None:
        raise OutsideDistrict(f"({lat}, {long}) lies on none of the district's {len(ref.grid_map)} grids")
    return Placement(grid.code, grid.community_code, grid.sub_centre_code, lat, long, address)


def _find_address(ref: IntakeReference, address_id: str | None, text: str | None) -> Address:
    if address_id:
        if address_id in ref.addresses:
            return ref.addresses[address_id]
        raise UnknownAddress(f"address_id {address_id!r} is not in the unified address base")
    if text:
        found = ref.addresses_by_text.get(text.strip())
        if found is None:
            raise UnknownAddress(f"address {text.strip()!r} is not in the unified address base; send lat/long instead")
        return found
    raise UnknownAddress("a location is needed: lat and long, an address_id, or an address")
