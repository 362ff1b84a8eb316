"""Which channel a referred dispute starts in, and that channel's statutory limit in calendar days.

Defaults from shared/design/mediation-law.md: people's mediation concludes within 30 days (人民调解工作若干规定
art. 33); labour dispute mediation within 15 days (劳动争议调解仲裁法 art. 14).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Channel:
    code: str
    name: str
    limit_days: int


PEOPLES_MEDIATION = Channel("peoples_mediation", "人民调解", 30)
LABOUR_MEDIATION = Channel("labour_mediation", "劳动争议调解", 15)

# Categories whose disputes start somewhere other than people's mediation.
FIRST_CHANNEL_BY_CATEGORY = {"labour_dispute": LABOUR_MEDIATION, "wage_arrears": LABOUR_MEDIATION}


def first_channel(category_code: str) -> Channel:
    return FIRST_CHANNEL_BY_CATEGORY.get(category_code, PEOPLES_MEDIATION)
