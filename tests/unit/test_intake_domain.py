"""intake's domain with no I/O: placement on a grid, privacy, tracking codes, the accepted event."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from gridlink.contracts import contract_for
from gridlink.refdata import Address, Category, Grid, GridMap
from intake.domain.errors import OutsideDistrict, UnknownAddress
from intake.domain.model import Report, mask_phone, new_tracking_code
from intake.domain.open311 import PublicProgress, StatusChange, progress_after
from intake.domain.placement import IntakeReference, place

NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def square(code: str, x0: float, y0: float) -> Grid:
    ring = ((x0, y0), (x0 + 0.01, y0), (x0 + 0.01, y0 + 0.01), (x0, y0 + 0.01))
    return Grid(code, f"网格{code[-3:]}", code[:12], code[:9], "geographic", "urban", 1000, 10, ring)


@pytest.fixture
def ref() -> IntakeReference:
    grids = {g.code: g for g in (square("150302001001001", 106.80, 39.70), square("150302001001002", 106.81, 39.70))}
    address = Address("A1", "海勃湾区海北街道佳苑社区 1号楼", 39.705, 106.815, "150302001001002")
    category = Category("street_lamp", "路灯损坏", "Broken street lamp", "general", "normal", "CM", "", False)
    return IntakeReference(GridMap(grids), {"street_lamp": category}, {"A1": address}, {address.address: address})


def test_coordinates_place_a_report_on_the_grid_that_holds_them(ref):
    placed = place(ref, lat=39.705, long=106.805)
    assert (placed.grid_code, placed.community_code, placed.sub_centre_code) == (
        "150302001001001",
        "150302001001",
        "150302001",
    )


def test_an_address_from_the_unified_address_base_places_the_report(ref):
    assert place(ref, address_id="A1").grid_code == "150302001001002"
    by_text = place(ref, address=" 海勃湾区海北街道佳苑社区 1号楼 ")
    assert by_text.grid_code == "150302001001002" and by_text.lat == 39.705


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"lat": 40.5, "long": 106.805}, OutsideDistrict),
        ({"address_id": "nope"}, UnknownAddress),
        ({"address": "火星基地"}, UnknownAddress),
        ({}, UnknownAddress),
    ],
)
def test_a_report_that_cannot_be_placed_is_refused(ref, kwargs, error):
    with pytest.raises(error):
        place(ref, **kwargs)


@pytest.mark.parametrize(
    ("phone", "masked"),
    [("13900001234", "139****1234"), ("+86 139-0000-1234", "861****1234"), ("12345", "****"), (None, None)],
)
def test_phone_numbers_leave_intake_masked(phone, masked):
    assert mask_phone(phone) == masked


def test_tracking_codes_are_dated_and_unambiguous():
    code = new_tracking_code(NOW)
    assert re.fullmatch(r"HB-261129-[2-9A-HJ-NP-Z]{6}", code)


def test_an_accepted_report_announces_itself_within_its_contract(ref):
    report = Report.accept(
        channel="app",
        category=ref.categories["street_lamp"],
        description="路灯不亮",
        placement=place(ref, lat=39.705, long=106.805),
        reporter_name="张女士",
        reporter_phone="13900001234",
        now=NOW,
    )
    [(event_type, payload), (contact_type, _)] = report.events
    assert (event_type, contact_type) == ("report_accepted", "reporter_contact_registered")
    wire = contract_for(event_type).dump(payload)
    assert wire["reporter_phone_masked"] == "139****1234"
    assert "13900001234" not in str(wire) and "张女士" not in str(wire)


def test_id_card_and_phone_numbers_typed_into_text_are_redacted():
    from intake.domain.model import redact_personal

    text = "我叫张三，身份证110101199003077777，电话13912345678，楼号12栋"
    redacted = redact_personal(text)
    assert "110101199003077777" not in redacted and "**************7777" in redacted
    assert "13912345678" not in redacted and "139****5678" in redacted
    assert "12栋" in redacted
    assert redact_personal("订单号 2026112900001234567 不是身份证") == "订单号 2026112900001234567 不是身份证"


T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SHOWN = PublicProgress("open", "已受理", None, None, None, T0)


def test_progress_after_keeps_the_agency_and_expected_time_a_step_leaves_and_clears_them_on_closing():
    due = T0 + timedelta(days=2)
    assigned = StatusChange("open", "已派遣", "150302001001001", due)
    returned = StatusChange("open", "退回", None, None)
    after = progress_after(SHOWN, [(T0 + timedelta(minutes=1), assigned), (T0 + timedelta(minutes=2), returned)])
    assert (after.notes, after.agency_unit, after.expected_at) == ("退回", "150302001001001", due)
    assert after.lifecycle_at == after.updated_at == T0 + timedelta(minutes=2)
    closed = progress_after(after, [(T0 + timedelta(minutes=3), StatusChange("closed", "已结案", "150302001001"))])
    assert (closed.status, closed.agency_unit, closed.expected_at) == ("closed", "150302001001", None)


def test_progress_after_passes_over_steps_older_than_the_one_shown():
    shown = PublicProgress("closed", "已办结", "150302001", None, T0, T0)
    assert progress_after(shown, [(T0 - timedelta(seconds=1), StatusChange("open", "已派遣", "1503020010"))]) is None
    same_moment = progress_after(shown, [(T0, StatusChange("closed", "已结案", None))])
    assert same_moment.notes == "已结案"  # a step at the same moment still applies, as it did one at a time
