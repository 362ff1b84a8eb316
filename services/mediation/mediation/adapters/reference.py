"""Loads mediation's part of the district's data: its channel catalogue (mediation_channels.json), the centre's
function rooms (organisation.json) and the official working calendar (holidays.json, shared with dispatch)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata import load_organisation
from gridlink.refdata.calendar import CALENDAR_FILE, load_days_off
from gridlink.refdata.reading import RefDataError, read_json
from mediation.domain.channels import CHANNELS_FILE, Catalogue, parse_catalogue
from mediation.domain.deadlines import WorkingCalendar


@dataclass(frozen=True)
class MediationReference:
    catalogue: Catalogue
    rooms: frozenset[str]
    calendar: WorkingCalendar


def load_calendar(data_dir: Path) -> WorkingCalendar:
    """A missing file means weekends only."""
    path = data_dir / CALENDAR_FILE
    return WorkingCalendar(*load_days_off(path)) if path.exists() else WorkingCalendar()


def load_reference(data_dir: Path) -> MediationReference:
    try:
        catalogue = parse_catalogue(read_json(data_dir / CHANNELS_FILE))
    except (KeyError, TypeError, ValueError) as exc:
        raise RefDataError(f"{CHANNELS_FILE}: {exc}") from exc
    rooms = frozenset(r.code for r in load_organisation(data_dir).centre.function_rooms)
    for channel in catalogue.channels.values():
        if channel.room_code and channel.room_code not in rooms:
            raise RefDataError(f"{CHANNELS_FILE}: channel {channel.code} names unknown room {channel.room_code}")
    if catalogue.online_room not in rooms:
        raise RefDataError(f"{CHANNELS_FILE}: unknown online room {catalogue.online_room}")
    return MediationReference(catalogue, rooms, load_calendar(data_dir))
