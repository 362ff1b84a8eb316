"""Grid staff (staff.csv): who serves which grids, in which role."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata.reading import DEFAULT_DATA_DIR, read_csv, unique_by_key

STAFF_FILE = "staff.csv"
STAFF_COLUMNS = ("staff_id", "name", "role", "grid_codes", "community_code", "phone", "email")
STAFF_ROLES = (
    "grid_leader",
    "grid_instructor",
    "police_officer",
    "full_time_worker",
    "rural_worker",
    "part_time_worker",
)
# The one full-time handler of a grid ("one grid, one full-time worker"): urban or rural.
FULL_TIME_ROLES = ("full_time_worker", "rural_worker")


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    name: str
    role: str
    grid_codes: tuple[str, ...]
    community_code: str
    phone: str
    email: str


def load_staff(data_dir: Path = DEFAULT_DATA_DIR) -> list[StaffMember]:
    staff = [
        StaffMember(
            staff_id=row.text("staff_id"),
            name=row.text("name"),
            role=row.choice("role", STAFF_ROLES),
            grid_codes=tuple(code for code in row.text("grid_codes", allow_empty=True).split(";") if code),
            community_code=row.text("community_code"),
            phone=row.text("phone"),
            email=row.text("email"),
        )
        for row in read_csv(data_dir / STAFF_FILE, STAFF_COLUMNS)
    ]
    unique_by_key(staff, "staff_id", STAFF_FILE)
    return staff
