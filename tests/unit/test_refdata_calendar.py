"""The official working calendar file, read once for dispatch and mediation."""

import json
from datetime import date

import pytest

from gridlink.refdata import DEFAULT_DATA_DIR, RefDataError
from gridlink.refdata.calendar import CALENDAR_FILE, load_days_off


def write(tmp_path, years) -> object:
    path = tmp_path / CALENDAR_FILE
    path.write_text(json.dumps({"years": years}), encoding="utf-8")
    return path


def test_holiday_ranges_are_expanded_and_adjusted_working_days_kept(tmp_path):
    path = write(
        tmp_path, {"2026": {"holidays": [{"from": "2026-10-01", "to": "2026-10-03"}], "workdays": ["2026-09-27"]}}
    )
    holidays, workdays = load_days_off(path)
    assert holidays == {date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)}
    assert workdays == {date(2026, 9, 27)}


@pytest.mark.parametrize(
    ("years", "says"),
    [
        ({"2026": {"holidays": [{"from": "2026-10-01", "to": "2026-10-02"}], "workdays": ["2026-10-02"]}}, "both off"),
        ({"2026": {"holidays": [{"from": "2026-13-01", "to": "2026-10-02"}], "workdays": []}}, "ValueError"),
        ({"2026": {"workdays": []}}, "KeyError"),
    ],
)
def test_a_bad_calendar_is_refused_naming_the_file(tmp_path, years, says):
    with pytest.raises(RefDataError, match=says) as refused:
        load_days_off(write(tmp_path, years))
    assert CALENDAR_FILE in str(refused.value)


def test_the_districts_calendar_loads_for_both_services():
    from dispatch.adapters.reference import load_calendar as dispatch_calendar
    from mediation.adapters.reference import load_calendar as mediation_calendar

    dispatch = dispatch_calendar(DEFAULT_DATA_DIR / CALENDAR_FILE)
    mediation = mediation_calendar(DEFAULT_DATA_DIR)
    assert dispatch.holidays == mediation.holidays and dispatch.workdays == mediation.workdays
    assert len(dispatch.holidays) > 0
