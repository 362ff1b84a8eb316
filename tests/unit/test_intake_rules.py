"""intake's rules with no I/O, on the real Haibowan data: grid placement near borders and from address variants,
classification of real-looking Chinese texts, urgency, duplicates, Open311 attributes, IoT folding, rate limits."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from gridlink.refdata import DEFAULT_DATA_DIR
from intake.adapters.reference import load_reference
from intake.domain.addressing import chinese_to_arabic, normalise
from intake.domain.classification import assess_urgency, classify
from intake.domain.duplicates import Candidate, DuplicateRule, distance_m, find_original
from intake.domain.errors import InvalidAttributes, OutsideDistrict, UnknownAddress, UnknownDevice
from intake.domain.iot import folds_into
from intake.domain.model import Report, redact_personal
from intake.domain.open311 import check_attributes
from intake.domain.placement import place
from intake.entrypoints.limits import RateLimiter

REF = load_reference(DEFAULT_DATA_DIR)
NOW = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)


def test_every_point_near_a_shared_border_lands_on_exactly_one_grid():
    checked = 0
    for grid in list(REF.grid_map)[::7]:
        for (x1, y1), (x2, y2) in zip(grid.polygon, grid.polygon[1:] + grid.polygon[:1], strict=True):
            mid_long, mid_lat = (x1 + x2) / 2, (y1 + y2) / 2
            for d_long, d_lat in ((0, 0), (1e-7, 0), (-1e-7, 0), (0, 1e-7), (0, -1e-7)):
                lat, long = mid_lat + d_lat, mid_long + d_long
                holders = [g.code for g in REF.grid_map if g.contains(lat, long)]
                located = REF.grid_map.locate(lat, long)
                assert len(holders) <= 1
                assert (located.code if located else None) == (holders[0] if holders else None)
                checked += 1
    assert checked > 500


def test_a_point_outside_the_district_is_refused():
    with pytest.raises(OutsideDistrict):
        place(REF, lat=41.0, long=110.0)


@pytest.mark.parametrize(
    "text",
    [
        "海勃湾区海北街道佳苑社区 16号楼 1单元",
        "内蒙古自治区乌海市海勃湾区海北街道佳苑社区16号楼1单元",
        "佳苑社区十六号楼一单元",
        "佳苑小区16栋1单元302室",
        "海北街道佳苑社区16#1单元",
        "佳苑社区 16-1",
        "佳苑社区１６号楼１单元",  # full-width digits from a phone keyboard
        "佳苑社区16-1-302",
    ],
)
def test_address_variants_find_the_same_standard_address(text):
    placed = place(REF, address=text)
    assert placed.address_id == "A00001" and placed.grid_code == "150302001001001"


def test_village_and_institution_addresses_and_unknown_ones():
    assert place(REF, address="东山村四组48号").address_id == "A01262"
    assert place(REF, address="凤苑社区乌海市第一中学2号楼").address_id == "A00874"
    with pytest.raises(UnknownAddress):
        place(REF, address="佳苑社区999号楼1单元")


def test_numbers_are_converted_only_before_a_unit_word():
    assert chinese_to_arabic("二十三号楼十单元") == "23号楼10单元"
    assert chinese_to_arabic("三一二室") == "312室"
    assert normalise("乌海市第一中学 2栋") == "乌海市第一中学2号楼"


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("楼上邻居天天半夜吵闹，协商不成，希望社区调解", "neighbour_dispute"),
        ("小区消防通道被私家车堵住了，消防车进不来", "fire_lane_blocked"),
        ("有人推电动车进电梯，太危险了", "ebike_in_lift"),
        ("3号楼门口路灯不亮好几天了", "street_lamp"),
        ("包工头拖欠工资三个月，农民工讨薪无门", "wage_arrears_dispute"),
        ("楼道里有人飞线充电，已经冒烟了", "fire_hazard"),
        ("隔壁工地脚手架没有防护网，违规作业", "work_safety"),
        ("小区里独居老人没人照顾，希望志愿者上门探访", "elder_visit"),
        ("窗口工作人员态度差，办事推诿", "complaint"),
        ("建议在小区门口增设一个公交站，希望增加班次", "suggestion"),
        ("房东不退押金", "tenancy_dispute"),
        ("冬天暖气不热，家里只有十几度", "utility_outage"),
    ],
)
def test_real_looking_texts_are_classified(text, category):
    result = classify(REF.rules, text)
    assert result.category_code == category, result
    assert result.confidence >= REF.rules.triage_below and not result.needs_triage


def test_vague_text_goes_to_triage_with_low_confidence():
    result = classify(REF.rules, "你好，我想反映一下情况")
    assert result.category_code == "other" and result.needs_triage and result.confidence == 0.0
    mixed = classify(REF.rules, "楼上邻居的装修声")  # a dispute or noise: unclear
    assert mixed.needs_triage and mixed.confidence < REF.rules.triage_below


def test_urgency_only_goes_up_from_the_category():
    assert assess_urgency(REF.rules, "low", "路灯不亮") == "low"
    assert assess_urgency(REF.rules, "high", "充电棚着火了，有人被困") == "critical"
    assert assess_urgency(REF.rules, "normal", "普通问题", requested="high") == "high"


def test_duplicates_need_the_same_place_and_time():
    rule = DuplicateRule(50, timedelta(hours=1))
    lat, long = 39.79, 106.80
    assert 19 < distance_m(lat, long, lat + 0.00018, long) < 21
    near_old = Candidate("old", lat, long, NOW - timedelta(hours=2))
    near = Candidate("b", lat + 0.0001, long, NOW - timedelta(minutes=10))
    nearer_later = Candidate("c", lat, long, NOW - timedelta(minutes=5))
    far = Candidate("far", lat + 0.01, long, NOW - timedelta(minutes=1))
    assert find_original(rule, lat, long, NOW, [near_old, far]) is None
    assert find_original(rule, lat, long, NOW, [near_old, nearer_later, near, far]).report_id == "b"
    assert REF.duplicates.for_category("neighbour_dispute") is None
    assert REF.duplicates.for_category("noise").radius_m == 150


def test_a_merged_report_points_at_the_original_and_counts_it():
    category = REF.categories["street_lamp"]
    placed = place(REF, address_id="A00001")
    original = Report.accept(channel="app", category=category, description="路灯", placement=placed, now=NOW)
    repeat = Report.accept(
        channel="wechat", category=category, description="路灯", placement=placed, now=NOW, reporter_phone="13900001234"
    )
    repeat.merge_into(original)
    assert repeat.duplicate_of == original.report_id and original.co_reporters == 1
    assert [t for t, _ in repeat.events] == ["report_merged", "reporter_contact_registered"]
    assert repeat.events[0][1]["reporter_phone_masked"] == "139****1234"


def test_open311_attributes_are_typed_and_checked():
    parking = REF.attributes["illegal_parking"]
    assert check_attributes(parking, {"vehicle_type": ["car"], "plate": ["蒙L12345"]}) == {
        "vehicle_type": "car",
        "plate": "蒙L12345",
    }
    with pytest.raises(InvalidAttributes) as error:
        check_attributes(parking, {"vehicle_type": ["boat"], "colour": ["red"]})
    assert set(error.value.errors) == {"attribute[vehicle_type]", "attribute[colour]"}
    with pytest.raises(InvalidAttributes):
        check_attributes(parking, {})  # vehicle_type is required
    fire = REF.attributes["fire_hazard"]
    assert check_attributes(fire, {"hazard_kind": ["gas", "flying_wire"]}) == {"hazard_kind": ["gas", "flying_wire"]}
    with pytest.raises(InvalidAttributes):
        check_attributes(REF.attributes["noise"], {"noise_source": ["shop"], "since": ["2026-11-29T22:00:00"]})
    with pytest.raises(InvalidAttributes):
        check_attributes(REF.attributes["street_lamp"], {"lamp_count": ["many"]})


def test_alarms_fold_within_a_sliding_window():
    window = timedelta(minutes=15)
    assert folds_into(None, NOW, window) is None
    assert folds_into((NOW - timedelta(minutes=14), "r1"), NOW, window) == "r1"
    assert folds_into((NOW - timedelta(minutes=16), "r1"), NOW, window) is None


def test_devices_authenticate_with_their_own_key():
    assert REF.sensors.authenticate("HB-FL-0001", "dev-key-HB-FL-0001").type == "fire_lane_camera"
    for device, key in (("HB-FL-0001", "dev-key-HB-EL-0002"), ("HB-XX-9999", "anything"), (None, None)):
        with pytest.raises(UnknownDevice):
            REF.sensors.authenticate(device, key)


def test_phone_numbers_in_text_are_masked():
    assert redact_personal("电话13900001234，座机0473-1234567") == "电话139****1234，座机047****4567"


def test_the_rate_limiter_refills_over_time():
    clock = [0.0]
    limiter = RateLimiter(clock=lambda: clock[0])
    assert [limiter.allow("k", 3) for _ in range(4)] == [True, True, True, False]
    clock[0] += 20  # a third of a minute refills one token of three
    assert limiter.allow("k", 3) and not limiter.allow("k", 3)
    assert limiter.allow("other", 3)


def test_grid_lookups_are_fast_enough_to_measure():
    points = [g.centroid for g in REF.grid_map]
    started = time.perf_counter()
    rounds = 20
    for _ in range(rounds):
        for lat, long in points:
            assert REF.grid_map.locate(lat, long) is not None
    rate = rounds * len(points) / (time.perf_counter() - started)
    print(f"grid lookups per second: {rate:,.0f}")
    assert rate > 0
