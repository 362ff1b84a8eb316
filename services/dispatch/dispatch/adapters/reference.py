"""Loads dispatch's part of the district data files: who handles each grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dispatch.domain.routing import Handler
from gridlink.refdata import load_staff

FULL_TIME_ROLES = ("full_time_worker", "rural_worker")


@dataclass(frozen=True)
class DispatchReference:
    grid_handlers: dict[str, Handler]


def load_reference(data_dir: Path) -> DispatchReference:
    handlers: dict[str, Handler] = {}
    for member in load_staff(data_dir):
        if member.role in FULL_TIME_ROLES:
            for grid_code in member.grid_codes:
                handlers[grid_code] = Handler(member.staff_id, member.role, member.name)
    return DispatchReference(grid_handlers=handlers)
