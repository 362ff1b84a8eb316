"""The unified address base (统一地址库): normalising a Chinese address as people write it, and matching it
against the district's book of compounds, buildings and units."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from gridlink.refdata import Address
from intake.domain.errors import UnknownAddress

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+(?=(号楼|号|栋|幢|座|单元|组|楼|层|室|#))")
# Province, city and district prefixes add nothing inside one district; they are dropped wherever they lead.
_PREFIXES = ("内蒙古自治区", "内蒙古", "乌海市", "乌海", "海勃湾区")
_BUILDING = re.compile(r"(\d+)(?:号楼|栋|幢|座|#楼|#|号(?=\d+单元))")
_UNIT = re.compile(r"(\d+)单元")
_ROOM = re.compile(r"\d+(?:室|户)$|\d+层\d*(?:室)?$")
_DASHED = re.compile(r"(\d+)[-－—](\d+)(?:[-－—]\d+)?$")  # 16-1 or 16-1-302: building-unit(-room)


def chinese_to_arabic(text: str) -> str:
    """十六号楼 → 16号楼, 二单元 → 2单元, 四组 → 4组 (numbers before a unit word only, so names stay intact)."""

    def convert(match: re.Match) -> str:
        chars = match.group(0)
        if all(ch in _DIGITS for ch in chars):  # 一六 read digit by digit
            return "".join(str(_DIGITS[ch]) for ch in chars)
        total, current = 0, 0
        for ch in chars:
            if ch in _DIGITS:
                current = _DIGITS[ch]
            else:
                total += (current or 1) * _UNITS[ch]
                current = 0
        return str(total + current)

    return _CN_NUMBER.sub(convert, text)


def normalise(text: str) -> str:
    """One canonical spelling: full-width to half-width, no spaces or punctuation, no region prefix, Arabic numbers,
    栋/幢/座/# as 号楼, 小区 as 社区, 16-1 as 16号楼1单元, and no room number."""
    clean = unicodedata.normalize("NFKC", text)
    clean = re.sub(r"[\s,，。、;；:：()（）\"'“”]", "", clean)
    stripped = True
    while stripped:
        stripped = False
        for prefix in _PREFIXES:
            # 乌海市第一中学 is a place, not a prefix: only strip when an administrative word follows
            rest = clean[len(prefix) :]
            if clean.startswith(prefix) and not rest.startswith(("第", "一", "二", "三", "市第")):
                clean = clean[len(prefix) :]
                stripped = True
    clean = chinese_to_arabic(clean)
    clean = clean.replace("小区", "社区")
    clean = _DASHED.sub(lambda m: f"{m.group(1)}号楼{m.group(2)}单元", clean)
    clean = _BUILDING.sub(lambda m: f"{m.group(1)}号楼", clean)
    clean = _ROOM.sub("", clean) if _UNIT.search(clean) else clean
    return clean


def _without_sub_centre(key: str) -> str:
    """Community names are unique in the district, so the sub-district (街道/镇) may be left out."""
    return re.sub(r"^[^社村]*?(街道|镇)", "", key)


class AddressBook:
    """Every standard address under its normalised spelling, with and without the sub-district, plus a building
    index so that an address without its unit still finds its building."""

    def __init__(self, addresses: Iterable[Address]) -> None:
        self.by_key: dict[str, Address] = {}
        self.by_building: dict[str, list[Address]] = defaultdict(list)
        for address in addresses:
            key = normalise(address.address)
            for variant in {key, _without_sub_centre(key)}:
                self.by_key.setdefault(variant, address)
                building = _UNIT.split(variant)[0] if _UNIT.search(variant) else None
                if building:
                    self.by_building[building].append(address)

    def match(self, text: str) -> Address:
        """The standard address a person's spelling means; UnknownAddress names what was not understood."""
        key = _without_sub_centre(normalise(text))
        if not key:
            raise UnknownAddress("the address is empty")
        found = self.by_key.get(key)
        if found is not None:
            return found
        building = key if not _UNIT.search(key) else None
        candidates = self.by_building.get(building or "", [])
        grids = {a.grid_code for a in candidates}
        if len(grids) == 1:
            # every unit of the building is on one grid, so the building alone places the report
            return min(candidates, key=lambda a: a.address_id)
        if len(grids) > 1:
            raise UnknownAddress(f"address {text.strip()!r} spans several grids; add the unit (单元)")
        raise UnknownAddress(f"address {text.strip()!r} is not in the unified address base; send lat/long instead")
