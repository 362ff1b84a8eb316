"""The official working calendar (holidays.json): the days off beyond weekends and the weekend days worked (调休),
as the State Council publishes them each year. Dispatch counts working-day deadlines on it, mediation statutory
periods; each keeps its own calendar type, and both read the file here."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from gridlink.refdata.reading import RefDataError, read_json

CALENDAR_FILE = "holidays.json"


def load_days_off(path: Path) -> tuple[frozenset[date], frozenset[date]]:
    """(holidays, adjusted working days) from the file: holidays are listed as ranges, working days one by one."""
    raw = read_json(path)
    holidays: set[date] = set()
    workdays: set[date] = set()
    try:
        for year in raw["years"].values():
            for span in year["holidays"]:
                day, last = date.fromisoformat(span["from"]), date.fromisoformat(span["to"])
                while day <= last:
                    holidays.add(day)
                    day += timedelta(days=1)
            workdays.update(date.fromisoformat(d) for d in year["workdays"])
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise RefDataError(f"{path.name}: {type(exc).__name__}: {exc}") from exc
    if clash := holidays & workdays:
        raise RefDataError(f"{path.name}: days both off and worked: {sorted(clash)}")
    return frozenset(holidays), frozenset(workdays)
