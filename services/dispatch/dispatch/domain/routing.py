"""Who handles a new case first: the grid's full-time worker (一格一专), since small matters stay in the grid."""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.domain.errors import NoHandler


@dataclass(frozen=True)
class Handler:
    staff_id: str
    role: str
    name: str


@dataclass(frozen=True)
class Assignment:
    tier: str
    unit_code: str
    assignee_id: str
    assignee_role: str


def first_assignment(grid_code: str, grid_handlers: dict[str, Handler]) -> Assignment:
    handler = grid_handlers.get(grid_code)
    if handler is None:
        raise NoHandler(f"no full-time handler for grid {grid_code}")
    return Assignment(tier="grid", unit_code=grid_code, assignee_id=handler.staff_id, assignee_role=handler.role)
