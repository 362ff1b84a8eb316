"""Loads intake's part of the district data files."""

from pathlib import Path

from gridlink.refdata import load_addresses, load_categories, load_grid_map
from intake.domain.placement import IntakeReference


def load_reference(data_dir: Path) -> IntakeReference:
    addresses = load_addresses(data_dir)
    return IntakeReference(
        grid_map=load_grid_map(data_dir),
        categories=load_categories(data_dir),
        addresses=addresses,
        addresses_by_text={a.address: a for a in addresses.values()},
    )
