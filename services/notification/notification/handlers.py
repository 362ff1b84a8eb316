"""notification's service layer: load, call the domain, commit. No HTTP and no nameko here.

An event becomes messages inside the consuming transaction, with no provider called there: the inbox is the one
delivery that happens at once (its row is the delivery). Every other channel gets a durable delivery timer, and
`deliver` (run by the timer scanner) calls the providers, fails over, backs off with jitter, and records each
attempt. Quiet hours, a missing address and backoff move the timer; digests and reminders have timers of their own.
Messages that can go at once are also handed to a delivery pass that this process runs right after the commit
(`_deliver_soon`); their timer then only stands behind it.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from gridlink.contracts import Envelope, contract_for, parse_envelope
from gridlink.runtime.db import UNAVAILABLE_PAUSES, while_unavailable
from notification import metrics
from notification.adapters.providers import Accepted, Outgoing, ProviderError, Providers
from notification.adapters.reference import NotificationReference
from notification.adapters.repository import ComposeReads, ComposeRequest, NotificationUnitOfWork
from notification.domain.errors import InvalidPreferences, MessageNotFound
from notification.domain.model import CONTACT_FIELDS, Attempt, Contact, Message
from notification.domain.policy import Decision, Preferences, admit, dedup_key, digest_due
from notification.domain.rules import Rule

log = logging.getLogger(__name__)

DELIVERY = "notification_delivery"
DELIVERY_TOGETHER = "notification_delivery_together"
DIGEST = "notification_digest"
REMINDER = "notification_reminder"
CONTACT_EVENTS = ("reporter_contact_registered", "party_contact_registered")
# People whose address arrives on its own event, possibly after the message: hold rather than skip.
LATE_ADDRESS_PREFIXES = ("reporter:", "party:")
# How long a delivery pass may take before its timer tries again (a process died while calling a provider).
SEND_LEASE = timedelta(minutes=2)
# Pauses before each new attempt to save a pass's outcomes while the database is unavailable: about 99 s, most of
# the lease. Saved before the lease runs out, the messages are no longer pending when their timer fires, so a
# database outage shorter than that sends nothing twice.
SAVE_PAUSES = (*UNAVAILABLE_PAUSES, *(10.0,) * 8)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Notifier:
    """What the handlers need besides a unit of work; tests pass their own clock and random source."""

    ref: NotificationReference
    providers: Providers
    clock: Callable[[], datetime] = _utcnow
    rng: random.Random = field(default_factory=random.Random)
    # Set by the service: a fresh unit of work, and where to hand a delivery pass off to run beside the consumer
    # (`_deliver_soon`, `deliver_handed_off`). Without both, every delivery waits for its timer, as tests that drive
    # the timers by hand want.
    new_uow: Callable[[], NotificationUnitOfWork] | None = None
    background: Callable[[HandedOff], None] | None = None
    # How a group of handed-off passes calls its providers: the service runs them on green threads.
    concurrently: Callable[[list[Callable[[], Any]]], list[Any]] = field(default=lambda calls: [c() for c in calls])
    # How a save waits before trying again while the database is unavailable (`_save_durably`): tests pass their
    # own; None is the runtime's (the standard library's sleep, green once the service has patched it).
    sleep: Callable[[float], None] | None = None

    def timers(self) -> dict[str, Callable]:
        """The durable timer handlers, for `Storage(timers=...)`."""
        return {
            DELIVERY: lambda uow, timer: deliver(uow, timer.key, self),
            DELIVERY_TOGETHER: lambda uow, timer: deliver_together(uow, timer.key, timer.payload["messages"], self),
            DIGEST: lambda uow, timer: send_digest(uow, timer.key, self),
            REMINDER: lambda uow, timer: remind(uow, timer.payload, self),
        }


# --- events -> messages ---------------------------------------------------------------------------------------


# Composing for one person: (trigger event id, person, template) -> the rendered messages and what was read for them.
Prepared = dict[tuple[str, str, str], tuple[list[Message], ComposeReads]]


def on_events(uow: NotificationUnitOfWork, events: list[Envelope], notifier: Notifier) -> None:
    """A batch of one consumer's events in one transaction, each as `on_event` would handle it alone, at one moment.

    What composing needs to read for the staff who appear once in the batch is read first, in one statement on
    PostgreSQL, instead of one per person: nothing composed for someone else in the batch can change what is read
    for them. Residents (`LATE_ADDRESS_PREFIXES`) are read just before their messages are composed, as one by one:
    their address comes on its own event, and reading them all ahead made the receipts' batches outrun those
    events, so nearly every receipt was held for its address and released later, which cost what the shared read
    saved (docs/performance.md, "Tried and dropped: one read for everyone a batch composes for").
    """
    now = notifier.clock()
    prepared = _read_ahead(uow, events, notifier, now)
    cause = uow.cause
    try:
        for event in events:
            uow.cause = event  # the events it publishes name it as their cause
            on_event(uow, event, notifier, now, prepared)
    finally:
        uow.cause = cause


def _read_ahead(uow: NotificationUnitOfWork, events: list[Envelope], notifier: Notifier, now: datetime) -> Prepared:
    if any(event.type in CONTACT_EVENTS for event in events):
        return {}  # a contact changes what is read for the person: each is read after it, as before
    policy = notifier.ref.policy
    jobs: list[tuple[Envelope, Rule, str]] = []
    seen: Counter[str] = Counter()
    for event in events:
        for rule in notifier.ref.rules.for_event(event.source, event.type):
            if not rule.applies_to(event.payload):
                continue
            recipients = rule.recipients_of(event.payload)
            seen.update(recipients)
            if rule.at is None:  # a reminder's rule composes rarely and at its own moment: read then
                jobs.extend((event, rule, recipient) for recipient in recipients)
    jobs = [job for job in jobs if seen[job[2]] == 1 and not job[2].startswith(LATE_ADDRESS_PREFIXES)]
    if len(jobs) < 2:
        return {}
    rendered = [
        _rendered(notifier, rule, event.event_id, event.correlation_id, event.payload, recipient, now)
        for event, rule, recipient in jobs
    ]
    requests = [
        ComposeRequest(
            event.event_id,
            recipient,
            rule.template,
            [m.dedup_key for m in messages],
            [m.channel for m in messages if m.channel in policy.rate_limited_channels],
        )
        for (event, rule, recipient), messages in zip(jobs, rendered, strict=True)
    ]
    reads = uow.messages.compose_reads_many(requests, now - policy.dedup_window, now - policy.rate_limit_window)
    return {
        (r.trigger_event_id, r.recipient_id, r.template_code): (messages, read)
        for r, messages, read in zip(requests, rendered, reads, strict=True)
    }


def on_event(
    uow: NotificationUnitOfWork,
    event: Envelope,
    notifier: Notifier,
    now: datetime | None = None,
    prepared: Prepared | None = None,
) -> None:
    """Turn one consumed event into messages, per the rules; the caller's inbox row makes this happen once."""
    now = now or notifier.clock()
    if event.type in CONTACT_EVENTS:
        _register_contact(uow, notifier, event.payload, now)
    for rule in notifier.ref.rules.for_event(event.source, event.type):
        if not rule.applies_to(event.payload):
            continue
        if rule.at is not None:
            due = rule.at.due(event.payload)
            if due is None or due + timedelta(minutes=rule.at.minutes_before) <= now:
                continue  # the thing to be reminded of is already past
            if due > now:
                uow.schedule(
                    REMINDER,
                    f"{event.event_id}:{rule.template}",
                    due,
                    {"event": _wire(event), "template": rule.template},
                    correlation_id=event.correlation_id,
                )
                continue
        _compose(uow, notifier, rule, event.event_id, event.correlation_id, event.payload, now, prepared)
    uow.commit()


def _wire(event: Envelope) -> dict:
    """The event as it travelled, so that a reminder parses it exactly as the consumer did."""
    payload = contract_for(event.type, event.version).dump(event.payload)
    return {**event.to_wire(), "payload": payload}


def remind(uow: NotificationUnitOfWork, payload: dict, notifier: Notifier) -> None:
    event = parse_envelope(payload["event"])
    for rule in notifier.ref.rules.for_event(event.source, event.type):
        if rule.template == payload["template"]:
            _compose(uow, notifier, rule, event.event_id, event.correlation_id, event.payload, notifier.clock())
    uow.commit()


def _compose(
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    rule: Rule,
    trigger_event_id: str,
    correlation_id: str,
    payload: dict[str, Any],
    now: datetime,
    prepared: Prepared | None = None,
) -> None:
    """Compose the rule's messages for each recipient: a few batched reads and writes per person, not per channel.

    The messages composed together are one per channel, and dedup keys and rate windows are per channel too, so
    they never count toward each other: deciding them all from reads made before any is written decides exactly
    what writing them one by one did. Another rule's messages for the same event are written before its turn.
    """
    policy = notifier.ref.policy
    priority = rule.priority_of(payload)
    for recipient in rule.recipients_of(payload):
        ready = (prepared or {}).pop((trigger_event_id, recipient, rule.template), None)
        if ready is not None:
            rendered, reads = ready
        else:
            rendered = _rendered(notifier, rule, trigger_event_id, correlation_id, payload, recipient, now)
            # Counted per channel: each channel is its own stream of interruptions for the person.
            limited = [m.channel for m in rendered if m.channel in policy.rate_limited_channels]
            reads = uow.messages.compose_reads(
                trigger_event_id,
                recipient,
                rule.template,
                [m.dedup_key for m in rendered],
                now - policy.dedup_window,
                limited,
                now - policy.rate_limit_window,
            )
        composed = [m for m in rendered if m.channel not in reads.existing]
        if not composed:
            continue
        directory = _directory(notifier.ref, recipient, reads.stored)
        duplicates, sent = reads.duplicates, reads.sent
        attempts: list[Attempt] = []
        for message in composed:
            decision = admit(
                channel=message.channel,
                category=rule.category,
                priority=priority,
                prefs=directory[1],
                policy=policy,
                now=now,
                duplicate_of=duplicates.get(message.dedup_key),
                sent_in_window=sent.get(message.channel, 0),
            )
            if decision.action in ("send", "hold") and directory[0].address_for(message.channel) is None:
                decision = _no_address(recipient, now, notifier)
            _admit(uow, notifier, message, decision, now)
            if message.status == "pending" and message.channel == "inbox":
                attempts += _deliver_locally(notifier, message, directory, now)
        _store_composed(uow, notifier, composed, attempts, directory, now)


def _rendered(
    notifier: Notifier,
    rule: Rule,
    trigger_event_id: str,
    correlation_id: str,
    payload: dict[str, Any],
    recipient: str,
    now: datetime,
) -> list[Message]:
    """The rule's message for the person on each of its channels switched on in this deployment (each channel once:
    one message per event, person, template and channel). Rendered for every channel before knowing which already
    have the message (only a redelivery's do), so that one read learns that, the duplicates and the rate counts."""
    channels = [c for c in dict.fromkeys(rule.channels) if c in notifier.providers.channels]
    priority = rule.priority_of(payload)
    scope_code = payload.get("grid_code") or payload.get("unit_code")
    return [
        _render(
            notifier.ref, rule, channel, recipient, payload, trigger_event_id, correlation_id, priority, scope_code, now
        )
        for channel in channels
    ]


def _render(
    ref: NotificationReference,
    rule: Rule,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    trigger_event_id: str,
    correlation_id: str,
    priority: str,
    scope_code: str | None,
    now: datetime,
) -> Message:
    rendered = ref.templates.render(rule.template, channel, payload)
    return Message.compose(
        recipient_id=recipient,
        channel=channel,
        template_code=rule.template,
        body=rendered.body,
        title=rendered.title,
        trigger_event_id=trigger_event_id,
        correlation_id=correlation_id,
        now=now,
        category=rule.category,
        priority=priority,
        scope_code=scope_code,
        dedup_key=dedup_key(recipient, channel, rendered.body),
    )


def _store_composed(
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    composed: list[Message],
    attempts: list[Attempt],
    directory: Directory,
    now: datetime,
) -> None:
    """Write the decided messages and the inbox's attempts, their events, and their timers."""
    uow.messages.add_at_commit(composed)
    uow.messages.record_attempts_at_commit(attempts)
    # The ones to send now go in one delivery pass for all their channels.
    now_due = [m for m in composed if m.status == "pending" and m.status_reason is None]
    due_ids = {m.message_id for m in now_due}
    for message in composed:
        if message.message_id in due_ids:
            _publish(uow, message)
        else:
            _settle(uow, message)
    if now_due:
        _deliver_soon(uow, notifier, now_due, directory, now)


def _deliver_soon(
    uow: NotificationUnitOfWork, notifier: Notifier, messages: list[Message], directory: Directory, now: datetime
) -> None:
    """One delivery pass for one person's messages that can go now: a timer of their own for one, one timer for
    several, and, when this process can, the pass itself handed off to run after the commit.

    A handed-off pass needs no transaction before calling the providers: the messages are as this unit of work
    wrote them, and their timer is armed one send lease ahead, exactly as a pass fired by its timer would arm it
    first. It stands in for the pass if the process dies before or during it, and the pass cancels it when done.
    """
    ids = [m.message_id for m in messages]
    kind, key, payload = (DELIVERY_TOGETHER, ids[0], {"messages": ids}) if len(ids) > 1 else (DELIVERY, ids[0], {})
    handed_off = notifier.new_uow is not None and notifier.background is not None
    uow.schedule(kind, key, now + SEND_LEASE if handed_off else now, payload, messages[0].correlation_id)
    if handed_off:
        uow.after_commit(partial(notifier.background, HandedOff(kind, key, messages, directory)))


@dataclass(frozen=True)
class HandedOff:
    """A delivery pass `_deliver_soon` handed off: its timer, and the messages as the committed work wrote them."""

    kind: str
    key: str
    messages: list[Message]
    directory: Directory


def deliver_handed_off(notifier: Notifier, passes: list[HandedOff]) -> None:
    """Run handed-off passes together: their providers called concurrently, their outcomes saved in one
    transaction (a pass alone costs a transaction, an attempt row, a timer cancel and an outbox row; together,
    each kind is written once for all of them).

    The saves wait for the slowest provider call of the group, bounded by the providers' timeout; the messages
    themselves go as soon as each call returns. Should a message no longer be sendable as composed (quiet hours
    began in between, say), its pass is an ordinary one, deciding from what is stored.
    """
    metrics.PASSES_GATHERED.observe(len(passes))
    now = notifier.clock()
    jobs: list[tuple[HandedOff, bool, Callable[[], Any]]] = []  # (pass, whether it is sent here, its call)
    for handed in passes:
        outgoing = [_prepare(notifier, message, handed.directory, now) for message in handed.messages]
        if any(out is None for out in outgoing):
            jobs.append((handed, False, partial(_stored_pass, notifier, handed)))
        else:
            sending = [(m, m.attempts, out) for m, out in zip(handed.messages, outgoing, strict=True)]
            jobs.append((handed, True, partial(_send_pass, notifier, sending, now)))
    results = notifier.concurrently([partial(_contained, call) for _, _, call in jobs])
    sent = [
        (handed.kind, handed.key, outcomes)
        for (handed, sent_here, _), outcomes in zip(jobs, results, strict=True)
        if sent_here and outcomes is not None  # None: it failed, and its timer tries again one lease later
    ]
    if sent:
        with notifier.new_uow() as uow:
            _save_durably(uow, notifier, sent)


def _contained(call: Callable[[], Any]) -> Any:
    """One pass's failure is its own: the others are still saved."""
    try:
        return call()
    except Exception:
        log.exception("a handed-off delivery pass failed; its timer will try again")
        return None


def _stored_pass(notifier: Notifier, handed: HandedOff) -> None:
    with notifier.new_uow() as uow:
        _delivery_pass(uow, notifier, handed.kind, handed.key, [m.message_id for m in handed.messages])


def _no_address(recipient: str, now: datetime, notifier: Notifier) -> Decision:
    if recipient.startswith(LATE_ADDRESS_PREFIXES):
        return Decision("hold", "awaiting_address", now + notifier.ref.policy.address_hold)
    return Decision("skip", "no_address")


def _admit(
    uow: NotificationUnitOfWork, notifier: Notifier, message: Message, decision: Decision, now: datetime
) -> None:
    """Apply the decision to the message, not yet written; a first merge times its digest."""
    if decision.action == "skip":
        message.skip(decision.reason)
    elif decision.action == "merge":
        first = not uow.messages.awaiting_digest(message.recipient_id, message.channel)
        message.merge(decision.reason)
        if first:  # later ones join the digest already timed
            due = digest_due(now, notifier.ref.policy)
            uow.schedule(DIGEST, f"{message.channel}|{message.recipient_id}", due, {}, message.correlation_id)
    elif decision.action == "hold":
        message.hold(decision.due_at, decision.reason)
    if decision.action != "send":
        metrics.MESSAGES_HELD.labels(message.channel, decision.reason.split(" ")[0]).inc()


def _register_contact(uow: NotificationUnitOfWork, notifier: Notifier, payload: dict[str, Any], now: datetime) -> None:
    """Store the address; the messages waiting for one go now, those whose channel still has none wait on."""
    recipient = payload["recipient_id"]
    contact = Contact(recipient, **{f: payload.get(f) for f in CONTACT_FIELDS})
    stored, awaited = uow.recipients.merge_contact_awaited(contact)
    if not awaited:
        return
    waiting = uow.messages.awaiting_address(recipient)
    directory = _directory(notifier.ref, recipient, stored)
    released = []
    for message in waiting:
        if directory[0].address_for(message.channel) is None:
            # Decided here as the delivery pass would decide it now (held, or skipped), without the pass.
            _prepare(notifier, message, directory, now)
        else:
            message.hold(now, "address_known")
            released.append(message)
    uow.messages.save_all(waiting)
    # Those the address released go in one pass, like the messages one event composes: their own timers go.
    released_ids = {m.message_id for m in released}
    for message in waiting:
        if message.message_id not in released_ids:
            _settle(uow, message)
            continue
        _publish(uow, message)
        if len(released) > 1:
            uow.cancel_timer(DELIVERY, message.message_id)
    if released:
        _deliver_soon(uow, notifier, released, directory, now)


Directory = tuple[Contact, Preferences]


def _directory(ref: NotificationReference, recipient: str, stored: tuple[Contact, dict | None] | None) -> Directory:
    """How to reach the person and what they chose: the staff list, overlaid with what is stored for them."""
    contact = ref.staff.get(recipient) or Contact(recipient)
    prefs = Preferences()
    if stored:
        contact = contact.updated_with(stored[0])
        if stored[1] is not None:
            # Saved before a category was retired: the defaults are the safe reading.
            with contextlib.suppress(InvalidPreferences):
                prefs = Preferences.parse(stored[1], ref.rules.categories)
    return contact, prefs


# --- delivery -------------------------------------------------------------------------------------------------


def deliver(uow: NotificationUnitOfWork, message_id: str, notifier: Notifier) -> None:
    """The delivery timer of one message (held, retried, or a digest)."""
    _delivery_pass(uow, notifier, DELIVERY, message_id, [message_id])


def deliver_together(uow: NotificationUnitOfWork, key: str, message_ids: list[str], notifier: Notifier) -> None:
    """The delivery timer of the messages one event composed for one person: a pass for all its channels at once."""
    _delivery_pass(uow, notifier, DELIVERY_TOGETHER, key, message_ids)


def _delivery_pass(
    uow: NotificationUnitOfWork, notifier: Notifier, kind: str, key: str, message_ids: list[str]
) -> None:
    """One pass over each message's providers, then sent, a retry (on a timer of its own), or failed.

    No transaction is open while a provider is called: the pass first re-arms its timer one lease ahead, naming
    the messages it sends, and commits, so a process that dies mid-call leaves a timer that tries again (providers
    get our message id as their idempotency key), and no database lock waits on a slow provider. A message's
    outcome is saved only if no other pass touched it meanwhile (one whose lease ran out), so no pass is recorded
    twice; the timer is left to that other pass then. A pending message always has exactly one live timer: its own,
    or the one pass's that names it.
    """
    now = notifier.clock()
    sending, stopped = [], []
    for message, stored in uow.messages.lock_with_directory(message_ids):
        if message.status != "pending":
            continue
        outgoing = _prepare(notifier, message, _directory(notifier.ref, message.recipient_id, stored), now)
        if outgoing is None:  # held (on its own timer from now on) or final
            stopped.append(message)
        else:
            sending.append((message, message.attempts, outgoing))
    uow.messages.save_all(stopped)
    for message in stopped:
        _settle(uow, message)
    if sending:
        lease = {} if kind == DELIVERY else {"messages": [m.message_id for m, _, _ in sending]}
        uow.schedule(kind, key, now + SEND_LEASE, lease, sending[0][0].correlation_id)
    uow.commit()
    if sending:
        _send_and_save(uow, notifier, kind, key, sending, now)


Outcomes = list[tuple[Message, int, list[Attempt]]]  # each message, its attempts as read, and this pass's


def _send_and_save(
    uow: NotificationUnitOfWork,
    notifier: Notifier,
    kind: str,
    key: str,
    sending: list[tuple[Message, int, Outgoing]],
    now: datetime,
) -> None:
    """A pass's second half: call the providers, then save each outcome (see `_delivery_pass`) and commit."""
    _save_durably(uow, notifier, [(kind, key, _send_pass(notifier, sending, now))])


def _send_pass(notifier: Notifier, sending: list[tuple[Message, int, Outgoing]], now: datetime) -> Outcomes:
    return [(message, read, _record(notifier, message, _send(notifier, out), now)) for message, read, out in sending]


def _save_durably(uow: NotificationUnitOfWork, notifier: Notifier, passes: list[tuple[str, str, Outcomes]]) -> None:
    """Save the passes' outcomes, again while the database is unavailable (`SAVE_PAUSES`): an outcome lost would
    leave its message pending, and its timer would send it a second time one lease later. Saves are conditional on
    the attempts read (`_save_outcomes`), so a commit that landed although its answer was lost is not saved twice."""
    while_unavailable(uow, partial(_save_outcomes, passes=passes), SAVE_PAUSES, notifier.sleep)


def _save_outcomes(uow: NotificationUnitOfWork, passes: list[tuple[str, str, Outcomes]]) -> None:
    """Save the passes' outcomes in one transaction, each message only if no other pass touched it meanwhile (see
    `_delivery_pass`), and cancel the timer of each pass whose messages were all saved."""
    read = [(message, attempts_read) for _, _, outcomes in passes for message, attempts_read, _ in outcomes]
    if uow.messages.save_all_if_unchanged(read):
        saved = [message for message, _ in read]
    else:  # another pass overtook some (rare): undo the batch and save what is still ours one by one
        uow.rollback()
        saved = [message for message, attempts_read in read if uow.messages.save_if_unchanged(message, attempts_read)]
    ours = {m.message_id for m in saved}
    uow.messages.record_attempts(
        [a for _, _, outcomes in passes for message, _, tried in outcomes if message.message_id in ours for a in tried]
    )
    retried = {m.message_id for m in saved if m.status == "pending"}
    for kind, key, outcomes in passes:
        all_saved = all(message.message_id in ours for message, _, _ in outcomes)
        if all_saved and not (kind == DELIVERY and key in retried):
            uow.cancel_timer(kind, key)  # done with; a message's own timer that a retry moves is kept, not replaced
    for message in saved:
        _settle(uow, message)
    uow.commit()


def _settle(uow: NotificationUnitOfWork, message: Message) -> None:
    """The message's events out, and its own timer set while it is still pending."""
    _publish(uow, message)
    if message.status == "pending":
        uow.schedule(DELIVERY, message.message_id, message.due_at, {}, message.correlation_id)


def _deliver_locally(notifier: Notifier, message: Message, directory: Directory, now: datetime) -> list[Attempt]:
    """Prepare, send and record in one go: only for the inbox, whose delivery does no I/O."""
    outgoing = _prepare(notifier, message, directory, now)
    return _record(notifier, message, _send(notifier, outgoing), now) if outgoing is not None else []


def _prepare(notifier: Notifier, message: Message, directory: Directory, now: datetime) -> Outgoing | None:
    """The message as a provider needs it, or None when it must wait (held: `due_at` moved) or cannot go (final).

    Only the message changes here; the caller writes it, its events and its timer.
    """
    policy = notifier.ref.policy
    contact, prefs = directory
    quiet_end = policy.quiet_until(message.channel, message.priority, prefs, now)
    address = contact.address_for(message.channel)
    if quiet_end:
        message.hold(quiet_end, "quiet_hours")
        return None
    if address is None:
        late = message.recipient_id.startswith(LATE_ADDRESS_PREFIXES)
        if late and now < message.created_at + policy.address_hold:
            message.hold(message.created_at + policy.address_hold, "awaiting_address")
        else:
            message.skip("no_address")
        return None
    if not notifier.providers.for_channel(message.channel):
        message.give_up(f"channel {message.channel} is switched off")
        metrics.MESSAGES_FAILED.labels(message.channel).inc()
        return None
    return Outgoing(
        message.message_id,
        message.recipient_id,
        message.channel,
        message.template_code,
        message.title,
        message.body,
        address[1],
        message.correlation_id,
    )


@dataclass(frozen=True)
class _Result:
    provider: str
    accepted: Accepted | None
    error: str | None
    duration: float


def _send(notifier: Notifier, out: Outgoing) -> list[_Result]:
    """Try the channel's providers in order until one accepts: failover within one pass."""
    results = []
    for provider in notifier.providers.for_channel(out.channel):
        started = time.perf_counter()
        try:
            accepted = provider.send(out)
        except ProviderError as exc:
            results.append(_Result(provider.code, None, str(exc), time.perf_counter() - started))
            continue
        results.append(_Result(provider.code, accepted, None, time.perf_counter() - started))
        break
    return results


def _record(notifier: Notifier, message: Message, results: list[_Result], now: datetime) -> list[Attempt]:
    """Apply a pass's results to the message; returns its attempts, for the caller to write with it."""
    attempts = []
    for result in results:
        ms = int(result.duration * 1000)
        if result.accepted is None:
            metrics.ATTEMPTS_FAILED.labels(message.channel, result.provider).inc()
            detail = (result.error or "")[:1000]
            attempts.append(Attempt(message.message_id, message.channel, now, "failed", detail, result.provider, ms))
            continue
        accepted = result.accepted
        metrics.send_duration(message.channel).observe(result.duration)
        metrics.sent(message.channel, accepted.provider).inc()
        metrics.delivery_latency(message.channel).observe(max(0.0, (now - message.created_at).total_seconds()))
        message.accepted(now, accepted.provider, accepted.provider_message_id, accepted.delivered)
        detail = f"provider id {accepted.provider_message_id}" if accepted.provider_message_id else None
        attempts.append(Attempt(message.message_id, message.channel, now, message.status, detail, result.provider, ms))
    if message.status == "pending":
        retry_at = notifier.ref.policy.retry_at(message.attempts + 1, now, notifier.rng)
        message.attempt_failed(retry_at, " | ".join(r.error or "" for r in results))
        if retry_at is None:
            metrics.MESSAGES_FAILED.labels(message.channel).inc()
    return attempts


def _publish(uow: NotificationUnitOfWork, message: Message) -> None:
    for event_type, payload in message.events:
        uow.publish(event_type, payload, correlation_id=message.correlation_id)
    message.events.clear()


def send_digest(uow: NotificationUnitOfWork, key: str, notifier: Notifier) -> None:
    """The digest timer: everything merged for one person and channel becomes one message."""
    channel, recipient = key.split("|", 1)
    merged = uow.messages.awaiting_digest(recipient, channel)
    if merged:
        now = notifier.clock()
        lines = "；".join(f"{i}. {m.title or m.template_code}" for i, m in enumerate(merged, 1))
        rendered = notifier.ref.templates.render("digest", channel, {"count": len(merged), "lines": lines})
        digest_id = str(uuid.uuid4())
        digest = Message.compose(
            recipient_id=recipient,
            channel=channel,
            template_code="digest",
            body=rendered.body,
            title=rendered.title,
            trigger_event_id=digest_id,
            correlation_id=f"digest:{digest_id}",
            now=now,
        )
        uow.messages.add(digest)
        for message in merged:
            message.merged_into_digest(digest.message_id)
        uow.messages.save_all(merged)
        uow.schedule(DELIVERY, digest.message_id, now, {}, digest.correlation_id)
    uow.commit()


# --- receipts, people and reading -----------------------------------------------------------------------------


def apply_receipts(uow: NotificationUnitOfWork, provider_code: str, body: Any, notifier: Notifier) -> dict:
    """A provider's delivery receipts: each moves its message from sent to delivered or failed."""
    provider = notifier.providers.by_code(provider_code)
    if provider is None:
        raise MessageNotFound(f"no switched-on provider {provider_code!r}")
    updated, unknown = 0, []
    with uow:
        for receipt in provider.receipts(body):
            message = uow.messages.by_provider_id(provider_code, receipt.provider_message_id)
            if message is None:
                unknown.append(receipt.provider_message_id)
                continue
            if message.receipt(receipt.delivered, notifier.clock(), receipt.reason):
                updated += 1
                uow.messages.save(message)
                if message.status == "failed":
                    metrics.MESSAGES_FAILED.labels(message.channel).inc()
                _publish(uow, message)
        uow.commit()
    return {"updated": updated, "unknown": unknown}


def set_preferences(uow: NotificationUnitOfWork, recipient_id: str, raw: Any, ref: NotificationReference) -> dict:
    prefs = Preferences.parse(raw, ref.rules.categories)
    with uow:
        uow.recipients.save_preferences(recipient_id, prefs.to_data())
        uow.commit()
    return prefs.to_data()


SELF_REGISTERED = ("push_token", "wecom_userid", "wechat_openid", "webhook_url", "email")


def set_contact(uow: NotificationUnitOfWork, recipient_id: str, raw: Any) -> dict:
    """Addresses a person (or an administrator for a partner) registers: push tokens, WeChat ids, webhook URLs."""
    if not isinstance(raw, dict) or not raw:
        raise InvalidPreferences(f"send a JSON object with some of: {', '.join(SELF_REGISTERED)}")
    unknown = set(raw) - set(SELF_REGISTERED)
    if unknown:
        raise InvalidPreferences(f"cannot set {', '.join(sorted(unknown))}; settable: {', '.join(SELF_REGISTERED)}")
    for name, value in raw.items():
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            raise InvalidPreferences(f"{name} must be a non-empty string of at most 500 characters")
    url = raw.get("webhook_url")
    if url and not url.startswith(("https://", "http://")):
        raise InvalidPreferences("webhook_url must be an http(s) URL")
    with uow:
        uow.recipients.merge_contact(Contact(recipient_id, **raw))
        uow.commit()
    return {"recipient_id": recipient_id, "registered": sorted(raw)}


def case_messages(uow: NotificationUnitOfWork, correlation_id: str) -> list[tuple[Message, list[dict]]]:
    with uow:
        found = uow.messages.of_correlation(correlation_id)
        attempts = uow.messages.attempts_of([m.message_id for m in found])
    return [(m, attempts[m.message_id]) for m in found]


def message(uow: NotificationUnitOfWork, message_id: str) -> tuple[Message, list[dict]]:
    with uow:
        found = uow.messages.get(message_id)
        if found is None:
            raise MessageNotFound(f"no message {message_id}")
        return found, uow.messages.attempts_of([message_id])[message_id]


def inbox(uow: NotificationUnitOfWork, recipient_id: str, limit: int = 100) -> list[Message]:
    with uow:
        return uow.messages.inbox(recipient_id, limit)
