"""Unit tests of the Haibowan reference data: published counts and names, the grid map's tiling, staffing
invariants, the address base, and the generator's determinism."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from collections import Counter
from pathlib import Path

import pytest

from gridlink.refdata import (
    DEFAULT_DATA_DIR,
    Grid,
    GridMap,
    Organisation,
    RefDataError,
    StaffMember,
    load_addresses,
    load_categories,
    load_grid_map,
    load_organisation,
    load_staff,
)

REPO = Path(__file__).resolve().parents[2]
GENERATOR = REPO / "tools" / "refdata" / "generate_haibowan.py"
DATA_FILES = ("organisation.json", "categories.json", "grids.geojson", "staff.csv", "addresses.csv")
BBOX = (106.78, 39.65, 106.90, 39.80)  # min long, min lat, max long, max lat
QIANLISHAN = "150302007"


@pytest.fixture(scope="module")
def org() -> Organisation:
    return load_organisation()


@pytest.fixture(scope="module")
def grid_map() -> GridMap:
    return load_grid_map()


@pytest.fixture(scope="module")
def staff() -> list[StaffMember]:
    return load_staff()


def grids_by_role(staff: list[StaffMember], roles: tuple[str, ...]) -> Counter[str]:
    """How many staff in the given roles list each grid."""
    return Counter(code for member in staff if member.role in roles for code in member.grid_codes)


# --- organisation -------------------------------------------------------------------------------------------


def test_default_data_dir_is_the_repo_data_dir() -> None:
    assert DEFAULT_DATA_DIR == REPO / "data" / "haibowan"


def test_district_and_command_centre(org: Organisation) -> None:
    assert (org.district_code, org.district_name) == ("150302", "海勃湾区")
    assert org.centre.name == "海勃湾区社会治理指挥服务中心"
    assert org.centre.area_m2 == 3376
    assert {z.name for z in org.centre.zones} >= {"受理导服区", "矛盾多元化解区"}
    assert [r.name for r in org.centre.function_rooms] == [
        "公共法律服务",
        "心理咨询服务",
        "人民调解",
        "司法调解",
        "劳动仲裁",
        "微法院诉前调解",
        "线上远程调解",
        "劳动监察",
        "“老书记”工作室",
        "行政复议",
    ]
    zone_codes = {z.code for z in org.centre.zones}
    assert all(r.zone_code in zone_codes for r in org.centre.function_rooms)


def test_two_platforms(org: Organisation) -> None:
    names = [p.name for p in org.platforms]
    assert len(names) == 2
    assert any("信访矛盾联合调处中心" in n for n in names)
    assert any("党群服务中心" in n for n in names)


def test_seven_sub_centres_in_code_order(org: Organisation) -> None:
    assert [(s.code, s.name, s.kind) for s in org.sub_centres] == [
        ("150302001", "海北街道", "subdistrict"),
        ("150302002", "滨河街道", "subdistrict"),
        ("150302003", "新华街道", "subdistrict"),
        ("150302004", "新华西街道", "subdistrict"),
        ("150302005", "凤凰岭街道", "subdistrict"),
        ("150302006", "林荫街道", "subdistrict"),
        (QIANLISHAN, "千里山镇", "town"),
    ]
    assert org.sub_centre(QIANLISHAN).name_en.startswith("Qianlishan")


def test_41_communities_coded_under_their_sub_centre(org: Organisation) -> None:
    codes = [c.code for c in org.communities]
    assert len(codes) == len(set(codes)) == 41
    for community in org.communities:
        assert len(community.code) == 12 and community.code.startswith(community.sub_centre_code)
        assert community.kind == ("village" if community.sub_centre_code == QIANLISHAN else "community")
        assert community.name_en.isascii()
    assert all(org.communities_of(s.code) for s in org.sub_centres)


def test_seven_pilot_workstations(org: Organisation) -> None:
    pilots = {org.sub_centre(c.sub_centre_code).name + c.name for c in org.communities if c.pilot}
    assert pilots == {
        "千里山镇新地村",
        "海北街道佳苑社区",
        "新华街道康乐社区",
        "新华西街道海达社区",
        "凤凰岭街道和平社区",
        "林荫街道海馨社区",
        "滨河街道滨河社区",
    }


def test_lookup_of_unknown_code_raises_key_error(org: Organisation) -> None:
    assert org.community("150302003001").name == "康乐社区"
    with pytest.raises(KeyError):
        org.community("999")


def test_departments_cover_the_handling_bureaus(org: Organisation) -> None:
    codes = {d.code for d in org.departments}
    assert len(codes) == len(org.departments)
    assert codes >= {
        "city_management",
        "public_security",
        "fire",
        "housing",
        "human_resources",
        "market_regulation",
        "civil_affairs",
        "justice",
        "ecology_environment",
        "health",
        "emergency_management",
        "education",
    }


def test_41_volunteer_teams_one_per_community(org: Organisation) -> None:
    assert [t.code for t in org.volunteer_teams] == [f"VT{i:02d}" for i in range(1, 42)]
    assert sorted(t.community_code for t in org.volunteer_teams) == sorted(c.code for c in org.communities)


# --- grid map -----------------------------------------------------------------------------------------------


def test_435_grids_by_kind_and_area(grid_map: GridMap) -> None:
    grids = list(grid_map)
    assert len(grid_map) == 435
    rural = [g for g in grids if g.area == "rural"]
    assert len(rural) == 31 and all(g.sub_centre_code == QIANLISHAN and g.kind == "geographic" for g in rural)
    assert sum(g.kind == "dedicated" for g in grids) == 33
    assert sum(g.kind == "geographic" and g.area == "urban" for g in grids) == 371
    assert all(g.name.endswith("专属网格") for g in grids if g.kind == "dedicated")


def test_grid_codes_nest_in_the_organisation(grid_map: GridMap, org: Organisation) -> None:
    for code, grid in grid_map.grids.items():
        assert code == grid.code and len(code) == 15 and code.isdigit()
        community = org.community(grid.community_code)
        assert code.startswith(community.code)
        assert grid.sub_centre_code == community.sub_centre_code
        assert grid.population > 0 and grid.buildings > 0
    assert {g.community_code for g in grid_map} == {c.code for c in org.communities}
    assert grid_map.get("150302003001001") is grid_map.grids["150302003001001"]
    assert grid_map.get("nope") is None


def test_every_grid_centroid_locates_to_itself(grid_map: GridMap) -> None:
    for grid in grid_map:
        lat, long = grid.centroid
        assert grid_map.locate(lat, long) is grid, grid.code


def test_grids_tile_the_district_without_overlap(grid_map: GridMap) -> None:
    rng = random.Random(7)
    grids = list(grid_map)
    for _ in range(1500):
        long, lat = rng.uniform(BBOX[0], BBOX[2]), rng.uniform(BBOX[1], BBOX[3])
        holders = [g for g in grids if g.contains(lat, long)]  # brute force, independent of the index
        assert len(holders) == 1, (lat, long, [g.code for g in holders])
        assert grid_map.locate(lat, long) is holders[0]


def test_shared_vertices_belong_to_one_grid(grid_map: GridMap) -> None:
    # points exactly on shared edges and corners are where a careless test would claim two grids
    grids = list(grid_map)
    for grid in grids[::7]:
        for long, lat in grid.polygon:
            assert sum(g.contains(lat, long) for g in grids) <= 1


@pytest.mark.parametrize(
    ("lat", "long"), [(39.5, 106.5), (39.72, 106.95), (39.85, 106.85), (39.6, 106.84), (39.72, 106.70)]
)
def test_point_outside_the_district_is_in_no_grid(grid_map: GridMap, lat: float, long: float) -> None:
    assert grid_map.locate(lat, long) is None


def test_polygons_stay_inside_the_district_bbox(grid_map: GridMap) -> None:
    for grid in grid_map:
        for long, lat in grid.polygon:
            assert BBOX[0] <= long <= BBOX[2] and BBOX[1] <= lat <= BBOX[3]


def test_grids_file_is_small() -> None:
    assert (DEFAULT_DATA_DIR / "grids.geojson").stat().st_size < 1_000_000


def test_grid_is_frozen(grid_map: GridMap) -> None:
    grid: Grid = next(iter(grid_map))
    with pytest.raises(AttributeError):
        grid.population = 0  # type: ignore[misc]


# --- staff --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "count"),
    [
        ("grid_leader", 270),
        ("grid_instructor", 41),
        ("police_officer", 41),
        ("full_time_worker", 371),
        ("rural_worker", 31),
        ("part_time_worker", 1112),
    ],
)
def test_staff_role_counts(staff: list[StaffMember], role: str, count: int) -> None:
    assert sum(m.role == role for m in staff) == count


def test_staff_identities_are_unique(staff: list[StaffMember]) -> None:
    assert len({m.staff_id for m in staff}) == len(staff)
    assert len({m.phone for m in staff}) == len(staff)
    for member in staff:
        assert member.phone.startswith("139") and len(member.phone) == 11 and member.phone.isdigit()
        assert member.email == f"{member.staff_id.lower()}@grid.haibowan.example"


def test_staff_grids_exist_in_their_community(staff: list[StaffMember], grid_map: GridMap) -> None:
    for member in staff:
        assert member.grid_codes, member.staff_id
        for code in member.grid_codes:
            assert grid_map.grids[code].community_code == member.community_code, member.staff_id


def test_every_grid_has_exactly_one_leader(staff: list[StaffMember], grid_map: GridMap) -> None:
    assert grids_by_role(staff, ("grid_leader",)) == dict.fromkeys(grid_map.grids, 1)
    assert all(1 <= len(m.grid_codes) <= 2 for m in staff if m.role == "grid_leader")


def test_every_grid_has_exactly_one_full_time_handler(staff: list[StaffMember], grid_map: GridMap) -> None:
    assert grids_by_role(staff, ("full_time_worker", "rural_worker")) == dict.fromkeys(grid_map.grids, 1)
    for member in staff:
        kinds = [(grid_map.grids[c].kind, grid_map.grids[c].area) for c in member.grid_codes]
        if member.role == "rural_worker":
            assert kinds == [("geographic", "rural")]
        elif member.role == "full_time_worker":
            # its own urban grid, plus at most one dedicated grid of the same community
            assert kinds in ([("geographic", "urban")], [("geographic", "urban"), ("dedicated", "urban")])
    assert sum(len(m.grid_codes) == 2 for m in staff if m.role == "full_time_worker") == 33


def test_each_community_has_one_instructor_and_one_officer_covering_it(
    staff: list[StaffMember], org: Organisation, grid_map: GridMap
) -> None:
    for role in ("grid_instructor", "police_officer"):
        members = [m for m in staff if m.role == role]
        assert sorted(m.community_code for m in members) == sorted(c.code for c in org.communities)
        for member in members:
            assert set(member.grid_codes) == {g.code for g in grid_map.in_community(member.community_code)}


def test_several_part_timers_on_every_geographic_grid(staff: list[StaffMember], grid_map: GridMap) -> None:
    counts = grids_by_role(staff, ("part_time_worker",))
    geographic = {g.code for g in grid_map if g.kind == "geographic"}
    assert set(counts) == geographic
    assert min(counts.values()) >= 2


# --- categories ---------------------------------------------------------------------------------------------


def test_categories_cover_three_kinds_and_known_departments(org: Organisation) -> None:
    categories = load_categories()
    assert 20 <= len(categories) <= 30
    assert {c.kind for c in categories.values()} == {"general", "dispute", "volunteer"}
    departments = {d.code for d in org.departments}
    for code, category in categories.items():
        assert code == category.code and code.isascii() and code.islower()
        assert category.department_code in departments
    expected = {"street_lamp", "neighbour_dispute", "elder_visit", "ebike_in_lift", "fire_lane_blocked"}
    assert expected <= set(categories)
    assert categories["thrown_from_height"].iot


# --- addresses ----------------------------------------------------------------------------------------------


def test_every_address_locates_to_its_own_grid(grid_map: GridMap) -> None:
    addresses = load_addresses()
    assert 1200 <= len(addresses) <= 1400
    for address_id, address in addresses.items():
        assert address_id == address.address_id
        assert address.address.startswith("海勃湾区")
        located = grid_map.locate(address.lat, address.long)
        assert located is not None and located.code == address.grid_code, address_id
    assert {a.grid_code for a in addresses.values()} == set(grid_map.grids)
    assert len({a.address for a in addresses.values()}) == len(addresses)


# --- loader errors ------------------------------------------------------------------------------------------


def test_malformed_csv_row_names_file_and_row(tmp_path: Path) -> None:
    lines = (DEFAULT_DATA_DIR / "staff.csv").read_text(encoding="utf-8").splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[2], "mayor", 1)
    (tmp_path / "staff.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(RefDataError, match=r"staff\.csv row 4: field 'role'"):
        load_staff(tmp_path)


def test_malformed_grid_feature_names_file_and_grid(tmp_path: Path) -> None:
    document = json.loads((DEFAULT_DATA_DIR / "grids.geojson").read_text(encoding="utf-8"))
    del document["features"][5]["properties"]["population"]
    (tmp_path / "grids.geojson").write_text(json.dumps(document), encoding="utf-8")
    code = document["features"][5]["properties"]["code"]
    expected = rf"grids\.geojson features\[5\] \({code}\): missing field 'population'"
    with pytest.raises(RefDataError, match=expected):
        load_grid_map(tmp_path)


def test_missing_file_is_a_ref_data_error(tmp_path: Path) -> None:
    with pytest.raises(RefDataError, match=r"organisation\.json"):
        load_organisation(tmp_path)


# --- generator ----------------------------------------------------------------------------------------------


def test_generator_reproduces_the_committed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("generate_haibowan", GENERATOR)
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes
    monkeypatch.setitem(sys.modules, spec.name, generator)
    spec.loader.exec_module(generator)
    generator.main(["--out", str(tmp_path)])
    for name in DATA_FILES:
        assert (tmp_path / name).read_bytes() == (DEFAULT_DATA_DIR / name).read_bytes(), name
