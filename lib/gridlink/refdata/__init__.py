"""A district's reference data (organisation, grid map, staff, categories, addresses), loaded from its files.

Pure Python with no framework imports, so every service and tool can load the same files.
"""

from gridlink.refdata.addresses import Address, load_addresses
from gridlink.refdata.categories import CATEGORY_KINDS, URGENCIES, Category, load_categories
from gridlink.refdata.grids import GRID_AREAS, GRID_KINDS, Grid, GridMap, load_grid_map
from gridlink.refdata.organisation import (
    CommandCentre,
    Community,
    Department,
    FunctionRoom,
    Organisation,
    Platform,
    SubCentre,
    VolunteerTeam,
    Zone,
    load_organisation,
)
from gridlink.refdata.reading import DEFAULT_DATA_DIR, RefDataError
from gridlink.refdata.staff import FULL_TIME_ROLES, STAFF_ROLES, StaffMember, load_staff

__all__ = [
    "CATEGORY_KINDS",
    "DEFAULT_DATA_DIR",
    "FULL_TIME_ROLES",
    "GRID_AREAS",
    "GRID_KINDS",
    "STAFF_ROLES",
    "URGENCIES",
    "Address",
    "Category",
    "CommandCentre",
    "Community",
    "Department",
    "FunctionRoom",
    "Grid",
    "GridMap",
    "Organisation",
    "Platform",
    "RefDataError",
    "StaffMember",
    "SubCentre",
    "VolunteerTeam",
    "Zone",
    "load_addresses",
    "load_categories",
    "load_grid_map",
    "load_organisation",
    "load_staff",
]
