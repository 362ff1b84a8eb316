"""The unified address base (addresses.csv): standard addresses with their coordinates and grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata.reading import DEFAULT_DATA_DIR, read_csv

ADDRESSES_FILE = "addresses.csv"
ADDRESS_COLUMNS = ("address_id", "address", "lat", "long", "grid_code")


@dataclass(frozen=True)
class Address:
    address_id: str
    address: str
    lat: float
    long: float
    grid_code: str


def load_addresses(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Address]:
    addresses: dict[str, Address] = {}
    for row in read_csv(data_dir / ADDRESSES_FILE, ADDRESS_COLUMNS):
        address = Address(
            address_id=row.text("address_id"),
            address=row.text("address"),
            lat=row.number("lat"),
            long=row.number("long"),
            grid_code=row.text("grid_code"),
        )
        if address.address_id in addresses:
            raise row.fail(f"duplicate address_id {address.address_id!r}")
        addresses[address.address_id] = address
    return addresses
