"""Messages, delivery attempts and recipients in and out of the database.

The hot statements (composing and delivering, several per consumed event) are built once at import with bind
parameters: SQLAlchemy then reuses their compiled form instead of building and hashing a new statement each time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import (
    CursorResult,
    Integer,
    String,
    TextClause,
    bindparam,
    cast,
    func,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.orm import Session

from gridlink.runtime.db import AtCommit, UnitOfWork, WriteHeld, as_utc, insert_all, update_all
from notification.adapters.orm import delivery_attempts, messages, recipients
from notification.domain.model import CONTACT_FIELDS, Attempt, Contact, Message

_FIELDS = [c.name for c in messages.columns]
_DATES = ("created_at", "delivered_at", "due_at", "sent_at")
_MUTABLE = (
    "status", "delivered_at", "status_reason", "due_at", "attempts", "sent_at", "provider", "provider_message_id",
    "merged_into",
)  # fmt: skip
_LIVE = ("pending", "sent", "delivered", "merged")  # what a duplicate may be a duplicate of
_REACHING = ("pending", "sent", "delivered")  # what counts toward the rate limit
_ATTEMPT_FIELDS = ("message_id", "channel", "at", "outcome", "detail", "provider", "duration_ms")
_DIRECTORY_FIELDS = (*CONTACT_FIELDS, "preferences")

# `_`-prefixed names in WHERE: an UPDATE's SET claims the bind names equal to its column names.
_SAVE = (
    update(messages)
    .where(messages.c.message_id == bindparam("_message_id"))
    .values({f: bindparam(f) for f in _MUTABLE})
)
# Recording a delivery pass: only if no other pass got there since ours read the message (a lease that ran out).
_SAVE_IF_UNCHANGED = _SAVE.where(messages.c.status == "pending", messages.c.attempts == bindparam("_attempts"))


_GET = select(messages).where(messages.c.message_id == bindparam("message_id"))
# Messages, locked (in one order, so that two passes never wait on each other in a cycle), with their recipients'
# stored directory entries, in one round trip.
_LOCK_WITH_DIRECTORY = (
    select(messages, *(recipients.c[f].label(f"directory_{f}") for f in ("recipient_id", *_DIRECTORY_FIELDS)))
    .select_from(messages.outerjoin(recipients, recipients.c.recipient_id == messages.c.recipient_id))
    .where(messages.c.message_id.in_(bindparam("message_ids", expanding=True)))
    .order_by(messages.c.message_id)
    .with_for_update(of=messages)
)
_EXISTING_CHANNELS = select(literal("existing"), messages.c.channel, cast(null(), String), cast(null(), Integer)).where(
    messages.c.trigger_event_id == bindparam("trigger_event_id"),
    messages.c.recipient_id == bindparam("recipient_id"),
    messages.c.template_code == bindparam("template_code"),
)


# The directory's columns in a branch that is not the directory's: typed NULLs (PostgreSQL gives a bare NULL the
# type of the branch next to it, which need not be the column's).
_NO_DIRECTORY = [cast(null(), recipients.c[f].type).label(f) for f in _DIRECTORY_FIELDS]

# What composing for one person needs to know, in one round trip: (what, key, message id, count, *directory) rows,
# the person's stored directory entry among them. With no dedup key or no rate-limited channel, its branch's empty
# `IN` matches nothing.
_COMPOSE_READS = union_all(
    _EXISTING_CHANNELS.add_columns(*_NO_DIRECTORY),
    select(literal("duplicate"), messages.c.dedup_key, messages.c.message_id, cast(null(), Integer), *_NO_DIRECTORY)
    .where(messages.c.dedup_key.in_(bindparam("dedup_keys", expanding=True)))
    .where(messages.c.created_at >= bindparam("since"), messages.c.status.in_(_LIVE)),
    select(literal("sent"), messages.c.channel, cast(null(), String), func.count(), *_NO_DIRECTORY)
    .where(messages.c.recipient_id == bindparam("recipient_id"))
    .where(messages.c.channel.in_(bindparam("channels", expanding=True)))
    .where(messages.c.created_at >= bindparam("rate_since"), messages.c.status.in_(_REACHING))
    .group_by(messages.c.channel),
    select(
        literal("directory"),
        cast(null(), String),
        cast(null(), String),
        cast(null(), Integer),
        *(recipients.c[f] for f in _DIRECTORY_FIELDS),
    ).where(recipients.c.recipient_id == bindparam("recipient_id")),
)


_AWAITING_DIGEST = (
    select(messages)
    .where(messages.c.recipient_id == bindparam("recipient_id"), messages.c.channel == bindparam("channel"))
    .where(messages.c.status == "merged", messages.c.merged_into.is_(None))
    .order_by(messages.c.created_at)
)
_AWAITING_ADDRESS = select(messages).where(
    messages.c.recipient_id == bindparam("recipient_id"),
    messages.c.status == "pending",
    messages.c.status_reason == "awaiting_address",
)
_RECIPIENT = select(recipients).where(recipients.c.recipient_id == bindparam("recipient_id"))


# `_COMPOSE_READS` for several people at once (PostgreSQL): each branch takes arrays, so the SQL is the same for any
# number of people and the lean session sends it straight to the driver. Rows: (what, a, b, c, d, count,
# *directory); existing (trigger event, person, template, channel), duplicate (dedup key, message id), sent (person,
# channel, count), directory (person, *entry).
_DIRECTORY_NULLS = ", ".join(f"CAST(NULL AS TEXT) AS {f}" for f in _DIRECTORY_FIELDS)
_COMPOSE_READS_MANY = text(
    f"""
    SELECT 'existing', trigger_event_id, recipient_id, template_code, channel, CAST(NULL AS INTEGER), {_DIRECTORY_NULLS}
    FROM messages WHERE trigger_event_id = ANY(:trigger_event_ids) AND recipient_id = ANY(:recipient_ids)
    UNION ALL
    SELECT 'duplicate', dedup_key, message_id, NULL, NULL, NULL, {_DIRECTORY_NULLS}
    FROM messages WHERE dedup_key = ANY(:dedup_keys) AND created_at >= :since AND status = ANY(:live)
    UNION ALL
    SELECT 'sent', recipient_id, channel, NULL, NULL, CAST(count(*) AS INTEGER), {_DIRECTORY_NULLS}
    FROM messages WHERE recipient_id = ANY(:recipient_ids) AND channel = ANY(:channels)
        AND created_at >= :rate_since AND status = ANY(:reaching)
    GROUP BY recipient_id, channel
    UNION ALL
    SELECT 'directory', recipient_id, NULL, NULL, NULL, NULL, {", ".join(_DIRECTORY_FIELDS)}
    FROM recipients WHERE recipient_id = ANY(:recipient_ids)
    """
).bindparams(
    bindparam("since", type_=messages.c.created_at.type), bindparam("rate_since", type_=messages.c.created_at.type)
)


@dataclass(frozen=True)
class ComposeRequest:
    """What `compose_reads` is asked for one person, template and event."""

    trigger_event_id: str
    recipient_id: str
    template_code: str
    dedup_keys: list[str]
    limited_channels: list[str]


@dataclass(frozen=True)
class ComposeReads:
    existing: set[str]  # channels that already have the message
    duplicates: dict[str, str]  # dedup key -> a live message with it
    sent: dict[str, int]  # rate-limited channel -> messages reaching the person in the window
    stored: tuple[Contact, dict | None] | None  # what `RecipientRepository.get` says of the person


class MessageRepository:
    """`at_commit` and `write_held` are the unit of work's (`insert_at_commit`, `write_held`): `write_held` is
    called before a statement that reads or changes the person's messages, or anyone's (None), so that no read
    misses the messages `add_at_commit` holds back until the commit."""

    def __init__(self, session: Session, at_commit: AtCommit, write_held: WriteHeld):
        self.session = session
        self._at_commit = at_commit
        self._write_held = write_held

    def add_at_commit(self, composed: list[Message]) -> None:
        """Insert newly composed messages when the work commits, with a consumed batch's others in one statement,
        rather than one statement per person. Any read of the person's messages before then (their next event in
        the same batch, say) writes them first, so every read sees them as if they had been inserted at once; so
        does any read or change of messages not confined to one person."""
        self._at_commit(messages, message_rows(composed), {m.recipient_id for m in composed})

    def record_attempts_at_commit(self, attempts: list[Attempt]) -> None:
        """Attempts nothing reads before the commit (the inbox's, made while composing): a consumed batch's in one
        statement at its commit, not one per person."""
        self._at_commit(delivery_attempts, _attempt_rows(attempts), ())

    def add(self, message: Message) -> None:
        self.add_all([message])

    def add_all(self, new: list[Message]) -> None:
        """Insert messages in one statement."""
        self._write_held(None)  # the deferred ones first, in the order they were composed
        insert_all(self.session, messages, message_rows(new))

    def save(self, message: Message) -> None:
        self.save_all([message])

    def save_all(self, changed: list[Message]) -> None:
        """Write the messages' changes (each message once): on PostgreSQL in one statement, elsewhere in one
        executemany."""
        self._write_held(None)
        if len(changed) > 1 and self._one_statement():
            update_all(self.session, messages, "message_id", _MUTABLE, [_mutable(m) for m in changed])
        elif changed:
            self.session.execute(_SAVE, [_mutable(m) for m in changed])

    def _one_statement(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def save_if_unchanged(self, message: Message, attempts_read: int) -> bool:
        """Save a delivery pass's outcome unless another pass changed the message after `attempts_read` was read."""
        return self.save_all_if_unchanged([(message, attempts_read)])

    def save_all_if_unchanged(self, outcomes: list[tuple[Message, int]]) -> bool:
        """`save_if_unchanged` for each; True when every one was saved, False when one was not (the caller then
        rolls back and saves them one by one).

        On PostgreSQL, one statement for them all (a group of delivery passes saves a few dozen); elsewhere a
        statement each, on the session's direct path rather than SQLAlchemy's executemany machinery."""
        self._write_held(None)
        if len(outcomes) > 1 and self._one_statement():
            rows = [{**_mutable(m), "_status": "pending", "_attempts": read} for m, read in outcomes]
            return update_all(self.session, messages, "message_id", _MUTABLE, rows, ("status", "attempts")) == len(rows)
        return all(
            self.session.execute(_SAVE_IF_UNCHANGED, {**_mutable(m), "_attempts": read}).rowcount == 1
            for m, read in outcomes
        )

    def get(self, message_id: str) -> Message | None:
        self._write_held(None)
        row = self.session.execute(_GET, {"message_id": message_id}).mappings().first()
        return _load(row) if row else None

    def lock_with_directory(self, message_ids: list[str]) -> list[tuple[Message, tuple[Contact, dict | None] | None]]:
        """The messages that exist, locked for update, in the order asked, each with what `RecipientRepository.get`
        says of its recipient."""
        self._write_held(None)
        found = {}
        for row in self.session.execute(_LOCK_WITH_DIRECTORY, {"message_ids": message_ids}).mappings():
            message = _load({f: row[f] for f in _FIELDS})
            stored = None
            if row["directory_recipient_id"] is not None:
                stored = _directory_entry(message.recipient_id, {f: row[f"directory_{f}"] for f in _DIRECTORY_FIELDS})
            found[message.message_id] = (message, stored)
        return [found[m] for m in message_ids if m in found]

    def compose_reads(
        self,
        trigger_event_id: str,
        recipient_id: str,
        template_code: str,
        dedup_keys: list[str],
        dedup_since: datetime,
        limited_channels: list[str],
        rate_since: datetime,
    ) -> ComposeReads:
        """The channels that already have this event's message for this person and template; for each dedup key,
        a message with the same words, person and channel sent or pending since `dedup_since`; per rate-limited
        channel, the messages that reach (or will reach) the person since `rate_since`; and the person's stored
        directory entry."""
        self._write_held(recipient_id)
        params = {
            "trigger_event_id": trigger_event_id,
            "recipient_id": recipient_id,
            "template_code": template_code,
            "dedup_keys": dedup_keys,
            "since": dedup_since,
            "channels": limited_channels,
            "rate_since": rate_since,
        }
        existing, duplicates, sent, stored = set(), {}, dict.fromkeys(limited_channels, 0), None
        for what, key, message_id, count, *directory in self.session.execute(_COMPOSE_READS, params):
            if what == "existing":
                existing.add(key)
            elif what == "duplicate":
                duplicates.setdefault(key, message_id)
            elif what == "sent":
                sent[key] = count
            else:
                stored = _directory_entry(recipient_id, dict(zip(_DIRECTORY_FIELDS, directory, strict=True)))
        return ComposeReads(existing, duplicates, sent, stored)

    def compose_reads_many(
        self, requests: list[ComposeRequest], dedup_since: datetime, rate_since: datetime
    ) -> list[ComposeReads]:
        """`compose_reads` for several people, each asked for once, in request order: on PostgreSQL in one
        statement, elsewhere one each. Nothing held back for any of them may be waiting (`write_held`): the caller
        asks before composing anything for them."""
        if self.session.get_bind().dialect.name != "postgresql":
            return [
                self.compose_reads(
                    r.trigger_event_id,
                    r.recipient_id,
                    r.template_code,
                    r.dedup_keys,
                    dedup_since,
                    r.limited_channels,
                    rate_since,
                )
                for r in requests
            ]
        params = {
            "trigger_event_ids": sorted({r.trigger_event_id for r in requests}),
            "recipient_ids": sorted({r.recipient_id for r in requests}),
            "dedup_keys": sorted({k for r in requests for k in r.dedup_keys}),
            "channels": sorted({c for r in requests for c in r.limited_channels}),
            "since": dedup_since,
            "rate_since": rate_since,
            "live": list(_LIVE),
            "reaching": list(_REACHING),
        }
        existing: set[tuple[str, str, str, str]] = set()
        duplicates: dict[str, str] = {}
        sent: dict[tuple[str, str], int] = {}
        stored: dict[str, tuple[Contact, dict | None]] = {}
        for what, a, b, c, d, count, *directory in self.session.execute(_COMPOSE_READS_MANY, params):
            if what == "existing":
                existing.add((a, b, c, d))
            elif what == "duplicate":
                duplicates.setdefault(a, b)
            elif what == "sent":
                sent[(a, b)] = count
            else:
                stored[a] = _directory_entry(a, dict(zip(_DIRECTORY_FIELDS, directory, strict=True)))
        return [
            ComposeReads(
                {
                    ch
                    for (t, p, tpl, ch) in existing
                    if (t, p, tpl) == (r.trigger_event_id, r.recipient_id, r.template_code)
                },
                {k: duplicates[k] for k in r.dedup_keys if k in duplicates},
                {ch: sent.get((r.recipient_id, ch), 0) for ch in r.limited_channels},
                stored.get(r.recipient_id),
            )
            for r in requests
        ]

    def awaiting_digest(self, recipient_id: str, channel: str) -> list[Message]:
        self._write_held(recipient_id)
        found = self.session.execute(_AWAITING_DIGEST, {"recipient_id": recipient_id, "channel": channel})
        return [_load(r) for r in found.mappings()]

    def awaiting_address(self, recipient_id: str) -> list[Message]:
        self._write_held(recipient_id)
        return [_load(r) for r in self.session.execute(_AWAITING_ADDRESS, {"recipient_id": recipient_id}).mappings()]

    def by_provider_id(self, provider: str, provider_message_id: str) -> Message | None:
        self._write_held(None)
        query = select(messages).where(
            messages.c.provider == provider, messages.c.provider_message_id == provider_message_id
        )
        row = self.session.execute(query.with_for_update()).mappings().first()
        return _load(row) if row else None

    def of_correlation(self, correlation_id: str) -> list[Message]:
        self._write_held(None)
        query = (
            select(messages)
            .where(messages.c.correlation_id == correlation_id)
            .order_by(messages.c.created_at, messages.c.recipient_id, messages.c.channel)
        )
        return [_load(r) for r in self.session.execute(query).mappings()]

    def record_attempts(self, attempts: list[Attempt]) -> None:
        self._write_held(None)  # their messages
        insert_all(self.session, delivery_attempts, _attempt_rows(attempts))

    def attempts_of(self, message_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {m: [] for m in message_ids}
        if not message_ids:
            return found
        self._write_held(None)
        query = (
            select(delivery_attempts)
            .where(delivery_attempts.c.message_id.in_(message_ids))
            .order_by(delivery_attempts.c.id)
        )
        for row in self.session.execute(query).mappings():
            found[row["message_id"]].append(
                {
                    "at": as_utc(row["at"]).isoformat(),
                    "provider": row["provider"],
                    "outcome": row["outcome"],
                    "detail": row["detail"],
                    "duration_ms": row["duration_ms"],
                }
            )
        return found

    def inbox(self, recipient_id: str, limit: int = 100) -> list[Message]:
        self._write_held(recipient_id)
        rows = self.session.execute(
            select(messages)
            .where(messages.c.recipient_id == recipient_id, messages.c.channel == "inbox")
            .order_by(messages.c.created_at.desc())
            .limit(limit)
        ).mappings()
        return [_load(r) for r in rows]


def message_rows(new: list[Message]) -> list[dict]:
    return [{f: getattr(m, f) for f in _FIELDS} for m in new]


def _attempt_rows(attempts: list[Attempt]) -> list[dict]:
    return [{f: getattr(a, f) for f in _ATTEMPT_FIELDS} for a in attempts]


def _mutable(message: Message) -> dict:
    return {"_message_id": message.message_id, **{f: getattr(message, f) for f in _MUTABLE}}


def _directory_entry(recipient_id: str, row) -> tuple[Contact, dict | None]:
    contact = Contact(recipient_id, **{f: row[f] for f in CONTACT_FIELDS})
    return contact, json.loads(row["preferences"]) if row["preferences"] else None


def _load(row) -> Message:
    values = dict(row)
    for name in _DATES:
        values[name] = as_utc(values[name])
    return Message(**values)


class RecipientRepository:
    """`write_held` as `MessageRepository` takes it: merging a contact also reads whether messages await it."""

    def __init__(self, session: Session, write_held: WriteHeld):
        self.session = session
        self._write_held = write_held

    def get(self, recipient_id: str) -> tuple[Contact, dict | None] | None:
        """The stored contact and raw preferences, or None when nothing is stored for this person."""
        row = self.session.execute(_RECIPIENT, {"recipient_id": recipient_id}).mappings().first()
        return _directory_entry(recipient_id, row) if row else None

    def merge_contact(self, contact: Contact) -> tuple[Contact, dict | None]:
        """Store what `contact` knows, keeping the stored value of every field it leaves empty; returns what `get`
        now says of the person, from the same statement."""
        return self.merge_contact_awaited(contact)[0]

    def merge_contact_awaited(self, contact: Contact) -> tuple[tuple[Contact, dict | None], bool]:
        """`merge_contact`, and whether any of the person's messages are held awaiting an address, from the same
        statement: mostly none are, and `MessageRepository.awaiting_address` need not be asked."""
        self._write_held(contact.recipient_id)
        values = {f: getattr(contact, f) for f in CONTACT_FIELDS}
        row = self._upsert(_MERGE_CONTACT, contact.recipient_id, values).mappings().one()
        return _directory_entry(contact.recipient_id, row), bool(row["awaiting"])

    def save_preferences(self, recipient_id: str, preferences: dict) -> None:
        values = {"preferences": json.dumps(preferences, ensure_ascii=False)}
        self._upsert(_SAVE_PREFERENCES, recipient_id, values)

    def _upsert(self, statement: TextClause, recipient_id: str, values: dict) -> CursorResult:
        return self.session.execute(
            statement, {"recipient_id": recipient_id, **values, "updated_at": datetime.now(UTC)}
        )


def _recipient_upsert(fields: tuple[str, ...], update: dict[str, str], returning: tuple[str, ...] = ()) -> TextClause:
    """INSERT ... ON CONFLICT (recipient_id) DO UPDATE, as typed text: SQLAlchemy caches its compiled form, where
    it compiles a dialect's ON CONFLICT insert afresh every time. PostgreSQL and SQLite (3.35+) read the same SQL."""
    columns = ("recipient_id", *fields, "updated_at")
    sql = (
        f"INSERT INTO recipients ({', '.join(columns)}) VALUES ({', '.join(f':{c}' for c in columns)}) "
        f"ON CONFLICT (recipient_id) DO UPDATE SET {', '.join(f'{c} = {v}' for c, v in update.items())}"
    )
    if returning:  # column names or SQL expressions
        sql += f" RETURNING {', '.join(returning)}"
    return text(sql).bindparams(*(bindparam(c, type_=recipients.c[c].type) for c in columns))


# `Contact.updated_with` in SQL: an empty field (None or "") keeps what is stored.
_MERGE_CONTACT = _recipient_upsert(
    CONTACT_FIELDS,
    {
        **{f: f"coalesce(nullif(excluded.{f}, ''), recipients.{f})" for f in CONTACT_FIELDS},
        "updated_at": "excluded.updated_at",
    },
    returning=(
        *_DIRECTORY_FIELDS,
        "EXISTS (SELECT 1 FROM messages WHERE messages.recipient_id = recipients.recipient_id"
        " AND messages.status = 'pending' AND messages.status_reason = 'awaiting_address') AS awaiting",
    ),
)
_SAVE_PREFERENCES = _recipient_upsert(
    ("preferences",), {"preferences": "excluded.preferences", "updated_at": "excluded.updated_at"}
)


class NotificationUnitOfWork(UnitOfWork):
    messages: MessageRepository
    recipients: RecipientRepository

    def _open_repositories(self, session: Session) -> None:
        self.messages = MessageRepository(session, self.insert_at_commit, self.write_held)
        self.recipients = RecipientRepository(session, self.write_held)
