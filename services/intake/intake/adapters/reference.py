"""Loads intake's part of the district data files: the shared ones (grids, addresses, categories, organisation)
and intake's own under data/<district>/intake/ (taxonomy groups, classification rules, duplicate settings, Open311
service definitions, API clients, IoT sensors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from gridlink.refdata import Category, RefDataError, load_addresses, load_categories, load_grid_map, load_organisation
from gridlink.refdata.categories import CATEGORY_KINDS, URGENCIES
from gridlink.refdata.reading import Record, read_json
from intake.domain.classification import Rules
from intake.domain.duplicates import DuplicateRule, DuplicateRules
from intake.domain.iot import AlarmType, Device, Sensors
from intake.domain.open311 import DATATYPES, ServiceAttribute
from intake.domain.placement import Group, IntakeReference

INTAKE_DIR = "intake"


@dataclass(frozen=True)
class ApiClient:
    client: str
    name: str
    key_sha256: str
    per_minute: int


def load_reference(data_dir: Path) -> IntakeReference:
    own = data_dir / INTAKE_DIR
    addresses = load_addresses(data_dir)
    categories = load_categories(data_dir)
    taxonomy = Record(read_json(own / "taxonomy.json"), "intake/taxonomy.json")
    for extra in taxonomy.records("extra_categories"):
        category = _category(extra)
        if category.code in categories:
            raise extra.fail(f"category {category.code!r} is already in categories.json")
        categories[category.code] = category
    groups = {
        g.text("code"): Group(g.text("code"), g.text("name"), g.text("name_en"), tuple(g.array("categories")))
        for g in taxonomy.records("groups")
    }
    grouped = [code for group in groups.values() for code in group.categories]
    if sorted(grouped) != sorted(categories):
        missing, unknown = set(categories) - set(grouped), set(grouped) - set(categories)
        raise RefDataError(f"intake/taxonomy.json: every category in one group; missing {missing}, unknown {unknown}")
    organisation = load_organisation(data_dir)
    grid_map = load_grid_map(data_dir)
    unit_names = {organisation.district_code: f"{organisation.district_name}社会治理指挥服务中心"}
    unit_names.update({s.code: s.centre_name for s in organisation.sub_centres})
    unit_names.update({c.code: c.workstation_name for c in organisation.communities})
    unit_names.update({d.code: d.name for d in organisation.departments})
    unit_names.update({g.code: g.name for g in grid_map})
    open311 = read_json(own / "open311.json")
    return IntakeReference(
        grid_map=grid_map,
        categories=categories,
        addresses=addresses,
        addresses_by_text={a.address: a for a in addresses.values()},
        groups=groups,
        rules=_rules(own, categories),
        duplicates=_duplicates(own),
        attributes=_attributes(open311, categories),
        sensors=_sensors(own, categories),
        unit_names=unit_names,
        open311={k: v for k, v in open311.items() if k != "services"},
    )


def load_api_clients(data_dir: Path) -> tuple[dict[str, ApiClient], int]:
    """API clients by key hash, and the per-client-address limit per minute."""
    root = Record(read_json(data_dir / INTAKE_DIR / "api_keys.json"), "intake/api_keys.json")
    clients = {}
    for r in root.records("keys"):
        client = ApiClient(r.text("client"), r.text("name"), r.text("key_sha256"), r.integer("per_minute"))
        clients[client.key_sha256] = client
    return clients, root.integer("per_address_per_minute")


def _category(r: Record) -> Category:
    return Category(
        code=r.text("code"),
        name=r.text("name"),
        name_en=r.text("name_en"),
        kind=r.choice("kind", CATEGORY_KINDS),
        urgency=r.choice("urgency", URGENCIES),
        department_code=r.text("department_code"),
        description=r.text("description"),
        iot=r.flag("iot", default=False),
    )


def _rules(own: Path, categories: dict[str, Category]) -> Rules:
    root = Record(read_json(own / "classification.json"), "intake/classification.json")
    keywords = root.record("keywords")
    unknown = set(keywords.data) - set(categories)
    if unknown:
        raise keywords.fail(f"keywords for unknown categories {sorted(unknown)}")
    urgency = root.record("urgency")
    fallback = root.text("fallback_category")
    if fallback not in categories:
        raise root.fail(f"fallback_category {fallback!r} is not a category")
    return Rules(
        keywords={code: tuple(keywords.array(code)) for code in keywords.data},
        urgency_keywords={level: tuple(urgency.array(level)) for level in urgency.data if level in URGENCIES},
        triage_below=root.number("triage_below"),
        fallback_category=fallback,
        saturation=root.integer("saturation"),
    )


def _duplicates(own: Path) -> DuplicateRules:
    root = Record(read_json(own / "duplicates.json"), "intake/duplicates.json")

    def rule(r: Record) -> DuplicateRule:
        return DuplicateRule(r.number("radius_m"), timedelta(minutes=r.number("window_minutes")))

    by_category = root.record("categories")
    return DuplicateRules(
        default=rule(root.record("default")),
        by_category={code: rule(by_category.record(code)) for code in by_category.data},
        never=frozenset(root.array("never")),
    )


def _attributes(open311: dict, categories: dict[str, Category]) -> dict[str, list[ServiceAttribute]]:
    services = Record(open311, "intake/open311.json").record("services")
    common = [_attribute(r) for r in services.records("_all")]
    found = {}
    for code in categories:
        own = [_attribute(r) for r in services.records(code)] if code in services.data else []
        found[code] = sorted(own + common, key=lambda a: (a.order, a.code))
    unknown = set(services.data) - set(categories) - {"_all"}
    if unknown:
        raise services.fail(f"attributes for unknown services {sorted(unknown)}")
    return found


def _attribute(r: Record) -> ServiceAttribute:
    values = tuple((v.text("key"), v.text("name")) for v in r.records("values")) if "values" in r.data else ()
    datatype = r.choice("datatype", DATATYPES)
    if datatype.endswith("valuelist") and not values:
        raise r.fail(f"a {datatype} needs values")
    return ServiceAttribute(
        code=r.text("code"),
        datatype=datatype,
        required=r.flag("required"),
        variable=r.flag("variable"),
        order=r.integer("order"),
        description=r.text("description"),
        datatype_description=r.data.get("datatype_description"),
        values=values,
    )


def _sensors(own: Path, categories: dict[str, Category]) -> Sensors:
    root = Record(read_json(own / "iot_devices.json"), "intake/iot_devices.json")
    types = root.record("alarm_types")
    alarm_types: dict[str, dict[str, AlarmType]] = {}
    for device_type in types.data:
        alarms = types.record(device_type)
        alarm_types[device_type] = {}
        for alarm in alarms.data:
            r = alarms.record(alarm)
            category = r.text("category")
            if category not in categories:
                raise r.fail(f"unknown category {category!r}")
            urgency = r.choice("urgency", URGENCIES) if "urgency" in r.data else None
            alarm_types[device_type][alarm] = AlarmType(category, timedelta(minutes=r.number("fold_minutes")), urgency)
    devices = {}
    for r in root.records("devices"):
        device = Device(
            r.text("device_id"),
            r.choice("type", tuple(alarm_types)),
            r.number("lat"),
            r.number("long"),
            r.data.get("address_id"),
            r.text("key_sha256"),
        )
        devices[device.device_id] = device
    return Sensors(devices, alarm_types)
