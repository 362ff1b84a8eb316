"""Restraint: preferences, quiet hours, deduplication, a per-recipient rate limit, digests and retry backoff.

Pure functions of the message, the recipient's preferences and a `now` the caller supplies, so tests control time.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any

from notification.domain.errors import InvalidPreferences
from notification.domain.rules import CHANNELS

LOCAL_CHANNELS = ("inbox", "file")  # no one is disturbed by these: restraint does not apply


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time

    @classmethod
    def parse(cls, raw: dict[str, str]) -> QuietHours:
        try:
            return cls(time.fromisoformat(raw["start"]), time.fromisoformat(raw["end"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidPreferences(f"quiet_hours needs start and end as HH:MM, got {raw!r}") from None

    def until(self, now: datetime, tz: timezone) -> datetime | None:
        """When the quiet period that `now` falls in ends, or None when `now` is not quiet."""
        local = now.astimezone(tz)
        t = local.time().replace(tzinfo=None)
        if self.start == self.end:
            return None
        overnight = self.start > self.end
        quiet = (t >= self.start or t < self.end) if overnight else (self.start <= t < self.end)
        if not quiet:
            return None
        end = datetime.combine(local.date(), self.end, tz)
        if end <= local:
            end += timedelta(days=1)
        return end.astimezone(UTC)  # stored and compared in UTC (SQLite drops offsets)

    def to_data(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


@dataclass(frozen=True)
class Preferences:
    """A person's choices. `channels` narrows each category to some channels; urgent messages ignore both lists."""

    channels: dict[str, tuple[str, ...]] = field(default_factory=dict)
    opt_out: tuple[str, ...] = ()
    quiet_hours: QuietHours | None = None
    quiet_hours_off: bool = False  # the person asked for no quiet hours at all

    @classmethod
    def parse(cls, raw: dict[str, Any], categories: dict[str, str]) -> Preferences:
        if not isinstance(raw, dict):
            raise InvalidPreferences("preferences must be a JSON object")
        unknown = set(raw) - {"channels", "opt_out", "quiet_hours"}
        if unknown:
            raise InvalidPreferences(f"unknown preference fields: {', '.join(sorted(unknown))}")
        channels = raw.get("channels", {})
        if not isinstance(channels, dict):
            raise InvalidPreferences("channels must map a category to a list of channels")
        for category, chosen in channels.items():
            _check_category(category, categories)
            if not isinstance(chosen, list) or not set(chosen) <= set(CHANNELS):
                raise InvalidPreferences(f"channels for {category}: a list drawn from {', '.join(CHANNELS)}")
        opt_out = raw.get("opt_out", [])
        if not isinstance(opt_out, list):
            raise InvalidPreferences("opt_out must be a list of categories")
        for category in opt_out:
            _check_category(category, categories)
        quiet = raw.get("quiet_hours", "default")
        return cls(
            channels={k: tuple(v) for k, v in channels.items()},
            opt_out=tuple(opt_out),
            quiet_hours=QuietHours.parse(quiet) if isinstance(quiet, dict) else None,
            quiet_hours_off=quiet is None,
        )

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "channels": {k: list(v) for k, v in self.channels.items()},
            "opt_out": list(self.opt_out),
        }
        if self.quiet_hours_off:
            data["quiet_hours"] = None
        elif self.quiet_hours:
            data["quiet_hours"] = self.quiet_hours.to_data()
        return data


def _check_category(category: str, categories: dict[str, str]) -> None:
    if category not in categories:
        raise InvalidPreferences(f"unknown category {category!r}; one of {', '.join(categories)}")


@dataclass(frozen=True)
class Policy:
    tz: timezone
    quiet_hours: QuietHours | None
    quiet_channels: tuple[str, ...]
    dedup_window: timedelta
    rate_limit_max: int
    rate_limit_window: timedelta
    rate_limited_channels: tuple[str, ...]
    digest_window: timedelta
    address_hold: timedelta
    max_attempts: int
    backoff_base: timedelta
    backoff_cap: timedelta

    @classmethod
    def from_data(cls, raw: dict[str, Any]) -> Policy:
        retry = raw.get("retry", {})
        rate = raw.get("rate_limit", {})
        quiet = raw.get("quiet_hours")
        return cls(
            tz=timezone(timedelta(hours=raw.get("timezone_offset_hours", 8))),
            quiet_hours=QuietHours.parse(quiet) if quiet else None,
            quiet_channels=tuple(raw.get("quiet_channels", ())),
            dedup_window=timedelta(minutes=raw.get("dedup_window_minutes", 10)),
            rate_limit_max=int(rate.get("max_messages", 6)),
            rate_limit_window=timedelta(minutes=rate.get("per_minutes", 60)),
            rate_limited_channels=tuple(raw.get("rate_limited_channels", ())),
            digest_window=timedelta(minutes=raw.get("digest_window_minutes", 60)),
            address_hold=timedelta(minutes=raw.get("address_hold_minutes", 30)),
            max_attempts=int(retry.get("max_attempts", 5)),
            backoff_base=timedelta(seconds=retry.get("base_seconds", 2)),
            backoff_cap=timedelta(seconds=retry.get("cap_seconds", 300)),
        )

    def quiet_until(self, channel: str, priority: str, prefs: Preferences, now: datetime) -> datetime | None:
        if priority == "urgent" or channel not in self.quiet_channels or prefs.quiet_hours_off:
            return None
        hours = prefs.quiet_hours or self.quiet_hours
        return hours.until(now, self.tz) if hours else None

    def retry_at(self, attempts: int, now: datetime, rng: random.Random) -> datetime | None:
        """Exponential backoff with jitter after `attempts` failed passes; None once they are used up."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempts - 1))
        # Half fixed, half random ("equal jitter"): never immediate, and replicas do not retry in lockstep.
        return now + ceiling / 2 + ceiling / 2 * rng.random()


@dataclass(frozen=True)
class Decision:
    action: str  # send, skip, merge or hold
    reason: str | None = None
    due_at: datetime | None = None


def admit(
    *,
    channel: str,
    category: str | None,
    priority: str,
    prefs: Preferences,
    policy: Policy,
    now: datetime,
    duplicate_of: str | None,
    sent_in_window: int,
) -> Decision:
    """What to do with a newly composed message, in order: preferences, duplicates, digest, rate limit, quiet hours."""
    urgent = priority == "urgent"
    if not urgent and channel != "inbox" and category is not None:
        if category in prefs.opt_out:
            return Decision("skip", "opted_out")
        if category in prefs.channels and channel not in prefs.channels[category]:
            return Decision("skip", "channel_not_chosen")
    if duplicate_of:
        return Decision("skip", f"duplicate of {duplicate_of}")
    if channel in LOCAL_CHANNELS:
        return Decision("send", due_at=now)
    if priority == "low" and channel in policy.rate_limited_channels:
        return Decision("merge", "low_priority")
    if not urgent and channel in policy.rate_limited_channels and sent_in_window >= policy.rate_limit_max:
        return Decision("merge", "rate_limited")
    quiet_end = policy.quiet_until(channel, priority, prefs, now)
    if quiet_end:
        return Decision("hold", "quiet_hours", quiet_end)
    return Decision("send", due_at=now)


def dedup_key(recipient_id: str, channel: str, body: str) -> str:
    """Identical means the same words to the same person on the same channel."""
    return hashlib.sha256(f"{recipient_id}\x1f{channel}\x1f{body}".encode()).hexdigest()[:40]


def digest_due(first_merged_at: datetime, policy: Policy) -> datetime:
    return first_merged_at + policy.digest_window
