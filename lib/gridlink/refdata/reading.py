"""Read the district's JSON and CSV data files; any format problem becomes a RefDataError naming file and row.

Loaders reach fields through `Record`, so each error message says exactly where in which file the problem is.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# lib/gridlink/refdata/ -> <repo>/data/haibowan: the district that the platform ships as its default.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[3] / "data" / "haibowan"


class RefDataError(ValueError):
    """A reference data file is missing or malformed; the message names the file and the row or field."""


def read_json(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return json.load(handle)
    except OSError as exc:
        raise RefDataError(f"{path.name}: cannot read: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise RefDataError(f"{path.name}: invalid JSON at line {exc.lineno}: {exc.msg}") from exc


def read_csv(path: Path, columns: tuple[str, ...]) -> Iterator[Record]:
    """Yield one Record per data row; the header must list exactly `columns`, in order."""
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(header) != columns:
                raise RefDataError(f"{path.name} row 1: expected header {','.join(columns)}, got {header}")
            for values in reader:
                where = f"{path.name} row {reader.line_num}"
                if len(values) != len(columns):
                    raise RefDataError(f"{where}: expected {len(columns)} fields, got {len(values)}")
                yield Record(dict(zip(columns, values, strict=True)), where)
    except OSError as exc:
        raise RefDataError(f"{path.name}: cannot read: {exc}") from exc
    except csv.Error as exc:
        raise RefDataError(f"{path.name}: invalid CSV: {exc}") from exc


class Record:
    """A JSON object or CSV row with typed accessors whose errors say where the value came from."""

    def __init__(self, data: Any, where: str) -> None:
        if not isinstance(data, Mapping):
            raise RefDataError(f"{where}: expected an object, got {type(data).__name__}")
        self.data = data
        self.where = where

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise RefDataError(f"{self.where}: missing field {key!r}")
        return self.data[key]

    def fail(self, message: str) -> RefDataError:
        return RefDataError(f"{self.where}: {message}")

    def text(self, key: str, *, allow_empty: bool = False) -> str:
        value = self._get(key)
        if not isinstance(value, str) or (not value and not allow_empty):
            raise self.fail(f"field {key!r} must be a non-empty string, got {value!r}")
        return value

    def choice(self, key: str, allowed: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in allowed:
            raise self.fail(f"field {key!r} must be one of {', '.join(allowed)}, got {value!r}")
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        if isinstance(value, str):  # CSV cells are text
            try:
                value = int(value)
            except ValueError:
                raise self.fail(f"field {key!r} must be an integer, got {value!r}") from None
        # bool is an int subclass; true/false in JSON is a data error here, not a count
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"field {key!r} must be an integer, got {value!r}")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise self.fail(f"field {key!r} must be a number, got {value!r}") from None
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(f"field {key!r} must be a number, got {value!r}")
        return float(value)

    def flag(self, key: str, default: bool | None = None) -> bool:
        if default is not None and key not in self.data:
            return default
        value = self._get(key)
        if not isinstance(value, bool):
            raise self.fail(f"field {key!r} must be true or false, got {value!r}")
        return value

    def array(self, key: str) -> list[Any]:
        value = self._get(key)
        if not isinstance(value, list):
            raise self.fail(f"field {key!r} must be a list, got {type(value).__name__}")
        return value

    def records(self, key: str) -> list[Record]:
        return [Record(item, f"{self.where} {key}[{index}]") for index, item in enumerate(self.array(key))]

    def record(self, key: str) -> Record:
        return Record(self._get(key), f"{self.where} {key}")


def unique_by_key(items: list[Any], key: str, where: str) -> dict[str, Any]:
    """Index items by an attribute, refusing duplicates (codes are identifiers across the platform)."""
    indexed: dict[str, Any] = {}
    for item in items:
        value = getattr(item, key)
        if value in indexed:
            raise RefDataError(f"{where}: duplicate {key} {value!r}")
        indexed[value] = item
    return indexed
