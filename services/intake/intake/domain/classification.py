"""Classifying a report from its Chinese text, and judging its urgency, by keyword rules kept as data."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from intake.domain.model import Classification

URGENCY_ORDER = ("low", "normal", "high", "critical")


@dataclass(frozen=True)
class Rules:
    """The district's rules (data/haibowan/intake/classification.json)."""

    keywords: dict[str, tuple[str, ...]]  # category code -> keywords
    urgency_keywords: dict[str, tuple[str, ...]]  # urgency -> keywords that raise a report to it
    triage_below: float = 0.5
    fallback_category: str = "other"
    saturation: int = 4  # matched characters at which a lone candidate is fully trusted


def _normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def classify(rules: Rules, text: str) -> Classification:
    """The category whose keywords cover most of the text.

    A keyword scores its length in characters, so a specific phrase (电动车进电梯) outweighs a vague one (楼上).
    Confidence combines how much matched with how clearly the winner leads the runner-up; nothing matched at all
    gives the fallback category with confidence 0, which always goes to triage.
    """
    clean = _normalise(text)
    scores: dict[str, int] = {}
    hits: dict[str, list[str]] = {}
    for code, words in rules.keywords.items():
        for word in words:
            if word in clean:
                scores[code] = scores.get(code, 0) + len(word)
                hits.setdefault(code, []).append(word)
    if not scores:
        return Classification(rules.fallback_category, 0.0, True)
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    best, top = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0
    strength = min(1.0, top / rules.saturation)
    margin = (top - runner_up) / top
    confidence = round(strength * (0.25 + 0.75 * margin), 3)
    return Classification(best, confidence, confidence < rules.triage_below, tuple(hits[best]))


def assess_urgency(rules: Rules, base: str, text: str, requested: str | None = None) -> str:
    """The most urgent of: the category's default, what the reporter or sensor asked for, and alarm words in the
    text (着火, 有人受伤…). Urgency only goes up here; a person lowers it during triage if need be."""
    levels = [base]
    if requested:
        levels.append(requested)
    clean = _normalise(text)
    for level, words in rules.urgency_keywords.items():
        if any(word in clean for word in words):
            levels.append(level)
    return max(levels, key=URGENCY_ORDER.index)
