"""The report category taxonomy (categories.json): what residents and sensors report, and who handles it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridlink.refdata.reading import DEFAULT_DATA_DIR, Record, RefDataError, read_json

CATEGORIES_FILE = "categories.json"
# dispute cases go to mediation, volunteer requests to the volunteer service
CATEGORY_KINDS = ("general", "dispute", "volunteer")
URGENCIES = ("low", "normal", "high", "critical")


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    name_en: str
    kind: str
    urgency: str
    department_code: str
    description: str
    iot: bool  # also raised by sensors and smart cameras, not only by people


def load_categories(data_dir: Path = DEFAULT_DATA_DIR) -> dict[str, Category]:
    entries = read_json(data_dir / CATEGORIES_FILE)
    if not isinstance(entries, list):
        raise RefDataError(f"{CATEGORIES_FILE}: expected a list of categories")
    categories: dict[str, Category] = {}
    for index, entry in enumerate(entries):
        record = Record(entry, f"{CATEGORIES_FILE} [{index}]")
        category = Category(
            code=record.text("code"),
            name=record.text("name"),
            name_en=record.text("name_en"),
            kind=record.choice("kind", CATEGORY_KINDS),
            urgency=record.choice("urgency", URGENCIES),
            department_code=record.text("department_code"),
            description=record.text("description"),
            iot=record.flag("iot", default=False),
        )
        if category.code in categories:
            raise record.fail(f"duplicate category code {category.code!r}")
        categories[category.code] = category
    return categories
