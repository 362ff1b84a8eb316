"""From events to delivered messages on a real database (SQLite and PostgreSQL), with providers behind a real
local HTTP test double, a clock the test moves, and the runtime's durable timer scanner doing the delivery."""

from __future__ import annotations

import json
import random
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta
from itertools import permutations

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from gridlink.contracts import new_envelope, parse_envelope
from gridlink.refdata.reading import DEFAULT_DATA_DIR
from gridlink.runtime.db import UNAVAILABLE_PAUSES, Database
from gridlink.runtime.timers import TimerScanner
from notification import handlers
from notification.adapters.orm import metadata
from notification.adapters.providers import build_providers
from notification.adapters.reference import load_reference
from notification.adapters.repository import NotificationUnitOfWork
from notification.config import parse_channel_config
from notification.domain.model import Contact, Message
from tests.integration.test_notification_providers import ProviderDouble, channel_env, free_port

REF = load_reference(DEFAULT_DATA_DIR)
STAFF = REF.staff["S0100"]
NOON = datetime(2026, 11, 30, 4, 0, tzinfo=UTC)  # 12:00 in Beijing
NIGHT = datetime(2026, 11, 30, 14, 30, tzinfo=UTC)  # 22:30 in Beijing
MORNING = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # 08:00 in Beijing


# A case_assigned's messages after one delivery pass: nothing listens for SMTP, so e-mail waits for its retry.
AFTER_ONE_PASS = {"inbox": "delivered", "sms": "sent", "wecom": "delivered", "email": "pending", "file": "delivered"}


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def double():
    d = ProviderDouble()
    yield d
    d.close()


@pytest.fixture
def world(new_database, backend, double, tmp_path):
    database = Database(new_database("notification"), metadata, "notification", NotificationUnitOfWork)
    metadata.create_all(database.engine)
    env = channel_env(double, free_port(), tmp_path / "out.jsonl")  # nothing listens for SMTP: email fails
    clock = Clock(NOON)
    notifier = handlers.Notifier(REF, build_providers(parse_channel_config(env)), clock, random.Random(1))
    yield World(database, notifier, clock, double)
    database.dispose()


class World:
    def __init__(self, database, notifier, clock, double):
        self.database, self.notifier, self.clock, self.double = database, notifier, clock, double
        self.scanner = TimerScanner(database, notifier.timers(), "test")

    def consume(self, envelope) -> bool:
        wire = parse_envelope(json.loads(json.dumps(envelope.to_wire())))  # exactly what the consumer receives
        return self.database.handle(
            "notification.test", wire, lambda uow, event: handlers.on_event(uow, event, self.notifier)
        )

    def consume_together(self, *envelopes) -> list[bool]:
        """A batch, as the service's batched consumer hands it to one transaction."""
        wire = [parse_envelope(json.loads(json.dumps(e.to_wire()))) for e in envelopes]
        return self.database.handle_all(
            "notification.test", wire, lambda uow, events: handlers.on_events(uow, events, self.notifier), True
        )

    def at(self, now: datetime) -> int:
        """Move the clock and fire every timer due by then (several passes: a timer may arm another)."""
        self.clock.now = now
        fired = 0
        for _ in range(5):
            fired += self.scanner.fire_due(now)
        return fired

    def hand_off(self) -> list:
        """Let delivery passes be handed off after commit, as the service does; the passes gather in the list
        returned, for the test to run (`run`; a process that dies first never runs them)."""
        passes: list = []
        self.notifier.new_uow, self.notifier.background = self.database.uow, passes.append
        return passes

    def run(self, *passes) -> None:
        """Run handed-off passes as the service's gatherer does: those given, as one group."""
        handlers.deliver_handed_off(self.notifier, list(passes))

    def messages(self, correlation_id: str, channel: str | None = None) -> list:
        found = handlers.case_messages(self.database.uow(), correlation_id)
        return [m for m, _ in found if channel is None or m.channel == channel]

    def one(self, correlation_id: str, channel: str):
        [m] = self.messages(correlation_id, channel)
        return m

    def attempts(self, correlation_id: str, channel: str) -> list[dict]:
        return next(a for m, a in handlers.case_messages(self.database.uow(), correlation_id) if m.channel == channel)

    def timers(self) -> list[tuple[str, str]]:
        """The live timers, (kind, key) in that order."""
        table = metadata.tables["timers"]
        with self.database.engine.connect() as conn:
            rows = conn.execute(select(table.c.kind, table.c.key).where(table.c.fired_at.is_(None))).all()
        return sorted((kind, key) for kind, key in rows)

    def outbox(self) -> list[tuple[str, dict]]:
        table = metadata.tables["outbox"]
        with self.database.engine.connect() as conn:
            rows = conn.execute(select(table.c.event_type, table.c.body).order_by(table.c.id)).all()
        return [(t, json.loads(b)["payload"]) for t, b in rows]


def case_assigned(tracking_code: str = "HB-261130-AAAAAA", urgency: str = "normal", assignee: str = "S0100"):
    report_id = str(uuid.uuid4())
    return new_envelope(
        type="case_assigned",
        source="dispatch",
        correlation_id=report_id,
        payload={
            "case_id": str(uuid.uuid4()),
            "report_id": report_id,
            "tracking_code": tracking_code,
            "category_code": "street_lamp",
            "urgency": urgency,
            "grid_code": "150302001001001",
            "tier": "grid",
            "unit_code": "150302001001001",
            "assignee_id": assignee,
            "assignee_role": "full_time_worker",
            "deadline_at": datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
            "summary": "路灯不亮",
        },
    )


def test_an_event_becomes_an_inbox_message_at_once_and_provider_deliveries_only_from_timers(world):
    event = case_assigned()
    assert world.consume(event)
    inbox = world.one(event.correlation_id, "inbox")
    assert inbox.status == "delivered" and "HB-261130-AAAAAA" in inbox.body
    assert {m.channel: m.status for m in world.messages(event.correlation_id)} == {
        "inbox": "delivered",
        "sms": "pending",
        "wecom": "pending",
        "email": "pending",
        "file": "pending",
    }
    assert world.double.requests == []  # nothing left the process inside the consuming transaction
    world.at(NOON)
    [sms] = world.double.params_of("/aliyun")
    assert sms["PhoneNumbers"] == STAFF.phone and "HB-261130-AAAAAA" in json.loads(sms["TemplateParam"])["content"]
    assert world.one(event.correlation_id, "sms").status == "sent"
    assert world.one(event.correlation_id, "wecom").status == "delivered"
    assert world.one(event.correlation_id, "file").status == "delivered"
    email = world.one(event.correlation_id, "email")  # no SMTP server listens: retried later, never a crash
    assert email.status == "pending" and email.status_reason.startswith("retrying: email: 127.0.0.1")
    assert NOON + timedelta(seconds=1) <= email.due_at <= NOON + timedelta(seconds=2)
    sent = [p["channel"] for t, p in world.outbox() if t == "message_sent"]
    assert sorted(sent) == ["file", "inbox", "sms", "wecom"]


def test_a_redelivered_event_never_sends_twice(world):
    event = case_assigned()
    assert world.consume(event) is True
    world.at(NOON)
    assert world.consume(event) is False
    world.at(NOON + timedelta(minutes=1))
    assert len(world.double.calls("/aliyun")) == 1 and len(world.double.calls("/wecom")) == 1
    assert len(world.messages(event.correlation_id)) == 5


def overtake_sms(world, monkeypatch):
    """The next sms send is slower than the lease: another replica delivers that message alone meanwhile."""
    provider = world.notifier.providers.for_channel("sms")[0]
    answer = provider.send

    def slow(out):
        monkeypatch.setattr(provider, "send", answer)
        with world.database.uow() as uow:  # another replica, once this pass's lease ran out
            handlers.deliver(uow, out.message_id, world.notifier)
        return answer(out)

    monkeypatch.setattr(provider, "send", slow)


def test_a_pass_overtaken_while_its_provider_answers_is_not_recorded_twice(world, monkeypatch):
    """A provider slower than the lease: another pass delivers meanwhile, and the slow pass's outcome is dropped."""
    event = case_assigned()
    world.consume(event)
    sms = world.one(event.correlation_id, "sms")
    overtake_sms(world, monkeypatch)
    with world.database.uow() as uow:
        handlers.deliver(uow, sms.message_id, world.notifier)
    assert [a["outcome"] for a in world.attempts(event.correlation_id, "sms")] == ["sent"]
    assert world.one(event.correlation_id, "sms").attempts == 1
    assert [p["channel"] for t, p in world.outbox() if t == "message_sent"] == ["inbox", "sms"]


def test_a_process_dying_while_its_providers_answer_leaves_a_timer_that_sends_them_later(world, monkeypatch):
    event = case_assigned()
    world.consume(event)
    provider = world.notifier.providers.for_channel("sms")[0]
    answer = provider.send

    def dies(out):
        monkeypatch.setattr(provider, "send", answer)
        raise RuntimeError("the process died")

    monkeypatch.setattr(provider, "send", dies)
    world.at(NOON)  # the pass for all four channels dies at its first provider call
    assert {m.channel: m.status for m in world.messages(event.correlation_id)} == {
        "inbox": "delivered",
        "sms": "pending",
        "wecom": "pending",
        "email": "pending",
        "file": "pending",
    }
    world.at(NOON + handlers.SEND_LEASE - timedelta(seconds=1))
    assert world.double.requests == []
    world.at(NOON + handlers.SEND_LEASE)
    assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
    assert len(world.double.calls("/aliyun")) == 1 and len(world.double.calls("/wecom")) == 1


def test_messages_that_can_go_now_are_sent_right_after_the_commit_and_their_timer_only_stands_behind(world):
    passes = world.hand_off()
    event = case_assigned()
    world.consume(event)
    [(kind, _)] = world.timers()
    assert kind == "notification_delivery_together"
    assert world.at(NOON + handlers.SEND_LEASE - timedelta(seconds=1)) == 0  # armed a send lease ahead
    world.clock.now = NOON
    assert world.double.requests == [] and len(passes) == 1  # nothing was sent inside the consuming transaction
    world.run(passes.pop())
    assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
    email = world.one(event.correlation_id, "email")
    assert world.timers() == [("notification_delivery", email.message_id)]  # the pass's own timer is gone
    assert world.at(NOON + handlers.SEND_LEASE) == 1  # the e-mail's retry, and nothing sent twice
    assert len(world.double.calls("/aliyun")) == 1 and len(world.double.calls("/wecom")) == 1
    assert sorted(p["channel"] for t, p in world.outbox() if t == "message_sent") == ["file", "inbox", "sms", "wecom"]


def test_a_handed_off_pass_the_process_never_ran_is_sent_by_its_timer_one_lease_later(world):
    world.hand_off()  # and the process dies before running the pass
    event = case_assigned()
    world.consume(event)
    assert world.at(NOON + handlers.SEND_LEASE - timedelta(seconds=1)) == 0
    assert world.double.requests == []
    world.at(NOON + handlers.SEND_LEASE)
    assert world.one(event.correlation_id, "sms").status == "sent"
    assert len(world.double.calls("/aliyun")) == 1


def test_a_handed_off_pass_for_messages_no_longer_sendable_decides_from_what_is_stored(world):
    passes = world.hand_off()
    event = case_assigned()
    world.consume(event)
    world.clock.now = NIGHT  # quiet hours began before the pass ran (an extreme delay, to make the point)
    world.run(passes.pop())
    sms = world.one(event.correlation_id, "sms")
    assert (sms.status, sms.status_reason) == ("pending", "quiet_hours") and sms.due_at == MORNING
    assert world.one(event.correlation_id, "wecom").status == "pending"
    assert world.double.calls("/aliyun") == []
    world.at(MORNING)
    assert world.one(event.correlation_id, "sms").status == "sent"
    assert len(world.double.calls("/aliyun")) == 1


def test_the_messages_an_address_releases_are_handed_off_in_one_pass(world):
    passes = world.hand_off()
    report_id = str(uuid.uuid4())
    world.consume(report_accepted(report_id))
    world.run(*passes)  # the file copy needs no address
    passes.clear()
    world.clock.now = NOON + timedelta(minutes=2)
    world.consume(contact(report_id))  # a phone and a WeChat id: sms and wechat go, e-mail waits on
    assert len(passes) == 1
    world.run(passes.pop())
    assert world.one(report_id, "sms").status == "sent" and world.one(report_id, "wechat").status == "sent"
    assert world.timers() == [("notification_delivery", world.one(report_id, "email").message_id)]


def two_passes_handed_off(world):
    """Two cases' passes handed off by one process, and a count of the units of work and concurrent calls after."""
    passes = world.hand_off()
    first, second = case_assigned("HB-261130-AAAAAA"), case_assigned("HB-261130-BBBBBB")
    world.consume(first)
    world.consume(second)
    assert len(passes) == 2
    opened, groups, new_uow, concurrently = [], [], world.notifier.new_uow, world.notifier.concurrently
    world.notifier.new_uow = lambda: opened.append(1) or new_uow()
    world.notifier.concurrently = lambda calls: groups.append(len(calls)) or concurrently(calls)
    return passes, first, second, opened, groups


def test_passes_run_together_call_their_providers_concurrently_and_save_in_one_transaction(world):
    passes, first, second, opened, groups = two_passes_handed_off(world)
    world.run(*passes)
    assert groups == [2] and len(opened) == 1
    for event in (first, second):
        assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
    emails = [world.one(event.correlation_id, "email").message_id for event in (first, second)]
    assert world.timers() == sorted(("notification_delivery", e) for e in emails)  # both passes' timers are gone
    assert len(world.double.calls("/aliyun")) == 2 and len(world.double.calls("/wecom")) == 2
    assert sorted(p["channel"] for t, p in world.outbox() if t == "message_sent") == sorted(
        ["file", "inbox", "sms", "wecom"] * 2
    )


def test_a_pass_that_fails_in_a_group_is_left_to_its_timer_and_the_others_are_saved(world, monkeypatch):
    passes, first, second, _, _ = two_passes_handed_off(world)
    provider = world.notifier.providers.for_channel("wecom")[0]
    answer = provider.send

    def breaks_for_the_first(out):
        if out.correlation_id == first.correlation_id:
            raise RuntimeError("a bug in one pass")
        return answer(out)

    monkeypatch.setattr(provider, "send", breaks_for_the_first)
    world.run(*passes)
    assert {m.channel: m.status for m in world.messages(second.correlation_id)} == AFTER_ONE_PASS
    assert {m.status for m in world.messages(first.correlation_id) if m.channel != "inbox"} == {"pending"}
    assert ("notification_delivery_together", passes[0].key) in world.timers()
    monkeypatch.setattr(provider, "send", answer)
    world.at(NOON + handlers.SEND_LEASE)  # its timer, one lease later
    assert {m.channel: m.status for m in world.messages(first.correlation_id)} == AFTER_ONE_PASS


def test_a_group_with_a_message_overtaken_saves_the_rest_and_nothing_twice(world, monkeypatch):
    passes, first, second, _, _ = two_passes_handed_off(world)
    overtake_sms(world, monkeypatch)  # the first pass's sms: another replica delivers it meanwhile
    world.run(*passes)
    assert [a["outcome"] for a in world.attempts(first.correlation_id, "sms")] == ["sent"]
    assert world.one(first.correlation_id, "sms").attempts == 1
    for event in (first, second):
        assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
        assert [a["outcome"] for a in world.attempts(event.correlation_id, "wecom")] == ["delivered"]
    # The second pass's timer is gone; the first's is left to the pass that overtook it.
    assert ("notification_delivery_together", passes[1].key) not in world.timers()
    assert ("notification_delivery_together", passes[0].key) in world.timers()
    sent = [p["channel"] for t, p in world.outbox() if t == "message_sent"]
    assert sorted(sent) == sorted(["file", "inbox", "sms", "wecom"] * 2)


class Unavailable:
    """The database becomes unavailable at the first outcome save, for real, and is back when the save has waited
    once: PostgreSQL ends that connection's backend (as a restart or failover does); SQLite's file is locked by
    another writer, and the save's busy timeout runs out. `notifier.sleep` is the pause before the next attempt."""

    def __init__(self, world, backend):
        self.world, self.backend, self.pauses, self.fired = world, backend, [], 0
        self.blocker = self.waiting = None
        world.notifier.sleep = self.pause
        sa_event.listen(world.database.engine, "before_cursor_execute", self.before)

    def before(self, conn, _cursor, statement, *_):
        if self.fired or not statement.lstrip().replace('"', "").startswith("UPDATE messages"):
            return
        self.fired += 1
        raw = conn.connection.dbapi_connection
        if self.backend == "postgresql":
            with self.world.database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": raw.info.backend_pid})
        else:
            self.blocker = sqlite3.connect(self.world.database.engine.url.database, isolation_level=None)
            self.blocker.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
            raw.execute("PRAGMA busy_timeout=50")
            self.waiting = raw

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        if self.blocker is not None:
            self.blocker.execute("COMMIT")
            self.blocker.close()
            self.waiting.execute("PRAGMA busy_timeout=30000")


def test_outcomes_are_saved_once_after_the_database_is_briefly_unavailable_and_nothing_is_sent_again(world, backend):
    passes, first, second, _, _ = two_passes_handed_off(world)
    unavailable = Unavailable(world, backend)
    world.run(*passes)
    assert unavailable.fired == 1 and unavailable.pauses == [UNAVAILABLE_PAUSES[0]]
    for event in (first, second):
        assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
        assert [a["outcome"] for a in world.attempts(event.correlation_id, "wecom")] == ["delivered"]
    emails = [world.one(event.correlation_id, "email").message_id for event in (first, second)]
    assert world.timers() == sorted(("notification_delivery", e) for e in emails)  # the passes' timers are gone
    assert sorted(p["channel"] for t, p in world.outbox() if t == "message_sent") == sorted(
        ["file", "inbox", "sms", "wecom"] * 2
    )
    world.at(NOON + handlers.SEND_LEASE)  # the passes' lease runs out: nothing is left for a timer to send again
    assert len(world.double.calls("/aliyun")) == 2 and len(world.double.calls("/wecom")) == 2


def test_outcomes_are_tried_again_for_most_of_the_lease_and_no_longer():
    # Saved before the lease runs out, the messages are no longer pending when the passes' timers fire.
    assert 60 < sum(handlers.SAVE_PAUSES) < 0.9 * handlers.SEND_LEASE.total_seconds()


def test_a_pass_its_timer_fired_saves_its_outcomes_once_after_the_database_is_briefly_unavailable(world, backend):
    event = case_assigned()
    world.consume(event)
    unavailable = Unavailable(world, backend)
    world.at(NOON)
    assert unavailable.fired == 1 and unavailable.pauses == [UNAVAILABLE_PAUSES[0]]
    assert {m.channel: m.status for m in world.messages(event.correlation_id)} == AFTER_ONE_PASS
    assert world.timers() == [("notification_delivery", world.one(event.correlation_id, "email").message_id)]
    world.at(NOON + handlers.SEND_LEASE)
    assert len(world.double.calls("/aliyun")) == 1 and len(world.double.calls("/wecom")) == 1
    assert [a["outcome"] for a in world.attempts(event.correlation_id, "sms")] == ["sent"]


def test_outcomes_saved_together_are_saved_only_where_no_other_pass_got_there_first(world):
    """The repository's saves of several messages (one statement on PostgreSQL): a group's outcomes, all or a
    miss reported; then changes saved whatever the message's state."""
    composed = [
        Message.compose(
            recipient_id="S0100", channel=channel, template_code="case_assigned", body=f"body {channel}",
            trigger_event_id=str(uuid.uuid4()), correlation_id="c-1", now=NOON,
        )
        for channel in ("sms", "wecom", "email", "file")
    ]  # fmt: skip
    with world.database.uow() as uow:
        uow.messages.add_all(composed)
        uow.commit()
    sms, wecom, email, file = composed
    sms.accepted(NOON, "sms_aliyun", "sn-1", delivered=False)
    wecom.accepted(NOON, "wecom", None, delivered=True)
    email.attempt_failed(NOON + timedelta(minutes=1), "x" * 300)
    with world.database.uow() as uow:
        assert uow.messages.save_all_if_unchanged([(sms, 0), (wecom, 0), (email, 0)])
        uow.commit()
    stored = {m.channel: m for m in world.messages("c-1")}
    assert (stored["sms"].status, stored["sms"].provider_message_id, stored["sms"].attempts) == ("sent", "sn-1", 1)
    assert (stored["wecom"].status, stored["wecom"].delivered_at, stored["wecom"].provider) == (
        "delivered", NOON, "wecom"
    )  # fmt: skip
    assert stored["email"].due_at == NOON + timedelta(minutes=1) and stored["email"].status_reason.endswith("x")
    assert stored["email"].sent_at is None and stored["email"].attempts == 1
    email.attempt_failed(NOON + timedelta(minutes=2), "again")
    file.attempt_failed(NOON + timedelta(minutes=2), "again")
    with world.database.uow() as uow:  # the file copy was read at 1 attempt, but it has none: not saved
        assert not uow.messages.save_all_if_unchanged([(email, 1), (file, 1)])
        uow.rollback()
    assert world.one("c-1", "email").attempts == 1 and world.one("c-1", "file").attempts == 0
    with world.database.uow() as uow:
        assert uow.messages.save_all_if_unchanged([(email, 1), (file, 0)])
        uow.commit()
    assert world.one("c-1", "email").attempts == 2 and world.one("c-1", "file").attempts == 1
    sms.receipt(True, NOON + timedelta(minutes=3), None)
    file.give_up("switched off")
    with world.database.uow() as uow:  # unconditional, as a receipt or an address released saves
        uow.messages.save_all([sms, file])
        uow.commit()
    assert (world.one("c-1", "sms").status, world.one("c-1", "sms").delivered_at) == (
        "delivered", NOON + timedelta(minutes=3)
    )  # fmt: skip
    assert (world.one("c-1", "file").status, world.one("c-1", "file").due_at) == ("failed", None)


def test_sms_fails_over_to_the_second_provider_and_every_attempt_is_recorded(world):
    world.double.fail["/aliyun"] = -1
    event = case_assigned()
    world.consume(event)
    world.at(NOON)
    sms = world.one(event.correlation_id, "sms")
    assert (sms.status, sms.provider, sms.provider_message_id) == ("sent", "sms_tencent", "sn-2")
    assert [(a["provider"], a["outcome"]) for a in world.attempts(event.correlation_id, "sms")] == [
        ("sms_aliyun", "failed"),
        ("sms_tencent", "sent"),
    ]
    with world.database.uow() as uow:
        assert handlers.apply_receipts(
            uow, "sms_tencent", [{"sid": "sn-2", "report_status": "SUCCESS"}], world.notifier
        )
    assert world.one(event.correlation_id, "sms").status == "delivered"


def test_when_every_provider_fails_it_backs_off_with_jitter_then_gives_up(world):
    world.double.fail["/aliyun"] = world.double.fail["/tencent"] = -1
    event = case_assigned()
    world.consume(event)
    now, due_times = NOON, []
    for _ in range(REF.policy.max_attempts):
        world.at(now)
        sms = world.one(event.correlation_id, "sms")
        if sms.status != "pending":
            break
        due_times.append((sms.due_at - now).total_seconds())
        now = sms.due_at
    assert sms.status == "failed" and "sms_tencent" in sms.status_reason
    assert len(world.attempts(event.correlation_id, "sms")) == 2 * REF.policy.max_attempts
    for n, delay in enumerate(due_times, 1):  # each wait is between half and all of base * 2^(n-1)
        ceiling = REF.policy.backoff_base.total_seconds() * 2 ** (n - 1)
        assert ceiling / 2 <= delay <= ceiling
    failed = [p for t, p in world.outbox() if t == "message_failed"]
    assert [p["channel"] for p in failed] == ["sms"]


def test_quiet_hours_hold_sms_until_morning_but_not_the_inbox_or_an_urgent_case(world):
    world.clock.now = NIGHT
    normal, urgent = case_assigned("HB-NIGHT-NORMAL"), case_assigned("HB-NIGHT-URGENT", urgency="critical")
    world.consume(normal)
    world.consume(urgent)
    world.at(NIGHT + timedelta(minutes=5))
    assert world.one(normal.correlation_id, "inbox").status == "delivered"
    held = world.one(normal.correlation_id, "sms")
    assert (held.status, held.status_reason, held.due_at) == ("pending", "quiet_hours", MORNING)
    assert world.one(urgent.correlation_id, "sms").status == "sent"
    world.at(MORNING - timedelta(minutes=1))
    assert world.one(normal.correlation_id, "sms").status == "pending"
    world.at(MORNING)
    assert world.one(normal.correlation_id, "sms").status == "sent"


def test_identical_messages_within_the_window_are_skipped_as_duplicates(world):
    first, again = case_assigned("HB-SAME"), case_assigned("HB-SAME")
    world.consume(first)
    world.clock.now = NOON + timedelta(minutes=5)
    world.consume(again)
    dup = world.one(again.correlation_id, "sms")
    assert (
        dup.status == "skipped"
        and dup.status_reason == f"duplicate of {world.one(first.correlation_id, 'sms').message_id}"
    )
    world.clock.now = NOON + REF.policy.dedup_window + timedelta(minutes=6)
    later = case_assigned("HB-SAME")
    world.consume(later)
    assert world.one(later.correlation_id, "sms").status == "pending"


def test_over_the_rate_limit_messages_are_merged_into_one_digest(world):
    events = [case_assigned(f"HB-RATE-{i}") for i in range(REF.policy.rate_limit_max + 2)]
    for i, event in enumerate(events):
        world.clock.now = NOON + timedelta(minutes=i)
        world.consume(event)
    statuses = [world.one(e.correlation_id, "sms").status for e in events]
    assert statuses == ["pending"] * REF.policy.rate_limit_max + ["merged", "merged"]
    assert world.one(events[-1].correlation_id, "sms").status_reason == "rate_limited"
    assert world.one(events[-1].correlation_id, "inbox").status == "delivered"  # the record is never withheld
    world.at(NOON + timedelta(minutes=len(events)))
    assert len(world.double.calls("/aliyun")) == REF.policy.rate_limit_max
    first_merged_at = NOON + timedelta(minutes=REF.policy.rate_limit_max)
    world.at(first_merged_at + REF.policy.digest_window - timedelta(seconds=1))
    assert world.one(events[-1].correlation_id, "sms").merged_into is None
    world.at(first_merged_at + REF.policy.digest_window)
    merged = [world.one(e.correlation_id, "sms") for e in events[-2:]]
    assert merged[0].merged_into and merged[0].merged_into == merged[1].merged_into
    digest = handlers.message(world.database.uow(), merged[0].merged_into)[0]
    assert digest.status == "sent" and digest.template_code == "digest"
    assert json.loads(world.double.params_of("/aliyun")[-1]["TemplateParam"])["content"] == digest.body
    assert "2 条" in digest.body


def test_low_priority_messages_wait_for_the_digest(world):
    report_id = str(uuid.uuid4())
    world.consume(contact(report_id))
    accepted = new_envelope(
        type="case_accepted",
        source="dispatch",
        correlation_id=report_id,
        payload={
            "case_id": "c-1",
            "report_id": report_id,
            "tracking_code": "HB-LOW",
            "grid_code": "150302001001001",
            "tier": "grid",
            "unit_code": "150302001001001",
            "accepted_by": "S0100",
            "deadline_at": datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
        },
    )
    world.consume(accepted)
    assert (
        world.one(report_id, "sms").status == "merged" and world.one(report_id, "sms").status_reason == "low_priority"
    )
    assert world.one(report_id, "inbox").status == "delivered"
    world.at(NOON + REF.policy.digest_window)
    digest_id = world.one(report_id, "sms").merged_into
    assert handlers.message(world.database.uow(), digest_id)[0].status == "sent"


def contact(report_id: str, **fields):
    return new_envelope(
        type="reporter_contact_registered",
        source="intake",
        correlation_id=report_id,
        payload={
            "recipient_id": f"reporter:{report_id}",
            "report_id": report_id,
            "tracking_code": "HB-X",
            "phone": "13900001234",
            "wechat_openid": "openid-zhang",
            **fields,
        },
    )


def report_accepted(report_id: str):
    return new_envelope(
        type="report_accepted",
        source="intake",
        correlation_id=report_id,
        payload={
            "report_id": report_id,
            "tracking_code": "HB-261130-REPORT",
            "channel": "app",
            "category_code": "street_lamp",
            "category_kind": "general",
            "urgency": "normal",
            "description": "路灯不亮",
            "grid_code": "150302001001001",
            "community_code": "150302001001",
            "sub_centre_code": "150302001",
            "lat": 39.67,
            "long": 106.82,
            "submitted_at": NOON,
        },
    )


def test_a_report_receipt_waits_for_the_reporters_address_whichever_event_comes_first(world):
    late, early = str(uuid.uuid4()), str(uuid.uuid4())
    world.consume(report_accepted(late))  # the address is not known yet
    world.at(NOON)
    held = world.one(late, "sms")
    assert (held.status, held.status_reason) == ("pending", "awaiting_address")
    assert world.one(late, "inbox").status == "delivered"
    world.clock.now = NOON + timedelta(minutes=2)
    world.consume(contact(late))
    world.consume(contact(early))
    world.consume(report_accepted(early))
    world.at(NOON + timedelta(minutes=2))
    for report_id in (late, early):
        assert world.one(report_id, "sms").status == "sent"
        assert world.one(report_id, "wechat").status == "sent"
    assert {s["PhoneNumbers"] for s in world.double.params_of("/aliyun")} == {"13900001234"}
    assert all(
        "HB-261130-REPORT" in s["data"]["keyword1"]["value"]
        for s in world.double.json_of("/wechat/cgi-bin/message/template/send")
    )
    never = str(uuid.uuid4())
    world.consume(report_accepted(never))
    world.at(NOON + timedelta(minutes=2) + REF.policy.address_hold)
    skipped = world.one(never, "sms")
    assert (skipped.status, skipped.status_reason) == ("skipped", "no_address")


def test_an_address_for_some_channels_releases_those_and_the_rest_keep_waiting_for_theirs(world):
    report_id = str(uuid.uuid4())
    world.consume(report_accepted(report_id))
    world.clock.now = NOON + timedelta(minutes=2)
    world.consume(contact(report_id, wechat_openid=None))  # a phone only: no e-mail address, no WeChat id
    for channel in ("email", "wechat"):
        waiting = world.one(report_id, channel)
        assert (waiting.status, waiting.status_reason) == ("pending", "awaiting_address")
        assert waiting.due_at == NOON + REF.policy.address_hold
    world.at(NOON + timedelta(minutes=2))
    assert world.one(report_id, "sms").status == "sent"
    assert world.one(report_id, "email").status_reason == "awaiting_address"
    world.at(NOON + REF.policy.address_hold)
    assert [(m.status, m.status_reason) for m in (world.one(report_id, "email"), world.one(report_id, "wechat"))] == [
        ("skipped", "no_address"),
        ("skipped", "no_address"),
    ]


def test_the_messages_an_address_releases_go_in_one_pass_and_their_own_timers_are_gone(world):
    report_id = str(uuid.uuid4())
    world.consume(report_accepted(report_id))
    world.at(NOON)  # the file copy needs no address
    world.clock.now = NOON + timedelta(minutes=2)
    world.consume(contact(report_id))  # a phone and a WeChat id: sms and wechat go, e-mail waits on
    email, [(kind, key)] = world.timers()[0], world.timers()[1:]
    assert email == ("notification_delivery", world.one(report_id, "email").message_id)
    assert kind == "notification_delivery_together"
    assert key in {world.one(report_id, "sms").message_id, world.one(report_id, "wechat").message_id}
    assert world.at(NOON + timedelta(minutes=2)) == 1
    assert world.one(report_id, "sms").status == "sent" and world.one(report_id, "wechat").status == "sent"
    assert world.timers() == [("notification_delivery", world.one(report_id, "email").message_id)]


def test_a_pass_overtaken_for_one_of_its_messages_records_the_others(world, monkeypatch):
    event = case_assigned()
    world.consume(event)
    overtake_sms(world, monkeypatch)
    world.at(NOON)  # one pass for sms, wecom, e-mail and file
    assert [a["outcome"] for a in world.attempts(event.correlation_id, "sms")] == ["sent"]
    assert [a["outcome"] for a in world.attempts(event.correlation_id, "wecom")] == ["delivered"]
    assert [a["outcome"] for a in world.attempts(event.correlation_id, "file")] == ["delivered"]
    assert world.one(event.correlation_id, "email").attempts == 1
    sent = [p["channel"] for t, p in world.outbox() if t == "message_sent"]
    assert sorted(sent) == ["file", "inbox", "sms", "wecom"]


def test_an_opted_out_category_is_skipped_with_its_reason_but_urgent_cases_still_arrive(world):
    handlers.set_preferences(world.database.uow(), "S0100", {"opt_out": ["case_work"]}, REF)
    normal, urgent = case_assigned("HB-OPT-1"), case_assigned("HB-OPT-2", urgency="critical")
    world.consume(normal)
    world.consume(urgent)
    assert world.one(normal.correlation_id, "sms").status_reason == "opted_out"
    assert world.one(normal.correlation_id, "inbox").status == "delivered"
    assert world.one(urgent.correlation_id, "sms").status == "pending"


def test_escalation_to_a_department_reaches_the_partner_by_signed_webhook(world):
    handlers.set_contact(world.database.uow(), "partner:dept-cgj", {"webhook_url": f"{world.double.url}/partner"})
    report_id = str(uuid.uuid4())
    escalated = new_envelope(
        type="case_escalated",
        source="dispatch",
        correlation_id=report_id,
        payload={
            "case_id": "c-9",
            "report_id": report_id,
            "tracking_code": "HB-ESC",
            "grid_code": "150302001001001",
            "tier": "department",
            "unit_code": "dept-cgj",
            "assignee_id": None,
            "from_tier": "district",
            "from_unit_code": "150302",
            "reason": "需城管执法",
            "automatic": False,
            "deadline_at": datetime(2026, 12, 5, 9, 0, tzinfo=UTC),
        },
    )
    world.consume(escalated)
    world.at(NOON)
    webhook = world.one(report_id, "webhook")
    assert webhook.status == "delivered" and webhook.recipient_id == "partner:dept-cgj"
    [received] = world.double.json_of("/partner")  # the double answers 401 unless the signature verifies
    assert received["message_id"] == webhook.message_id and "HB-ESC" in received["text"]
    assert world.one(report_id, "inbox").recipient_id == "unit:dept-cgj"


def test_a_volunteer_gets_the_order_now_and_a_reminder_before_the_acceptance_deadline(world):
    handlers.set_contact(world.database.uow(), "V0001", {"push_token": "device-1"})
    accept_by = NOON + timedelta(hours=2)
    dispatched = new_envelope(
        type="order_dispatched",
        source="volunteer",
        correlation_id="order-1",
        payload={
            "order_id": "order-1",
            "service_code": "elder_visit",
            "grid_code": "150302001001001",
            "volunteer_id": "V0001",
            "accept_by": accept_by,
        },
    )
    world.consume(dispatched)
    world.at(NOON)
    assert {m.template_code for m in world.messages("order-1")} == {"order_dispatched"}
    assert world.one("order-1", "push").status == "sent"
    world.at(accept_by - timedelta(minutes=31))
    assert len(world.messages("order-1", "push")) == 1
    world.at(accept_by - timedelta(minutes=30))
    reminders = [m for m in world.messages("order-1") if m.template_code == "order_accept_reminder"]
    assert {m.channel: m.status for m in reminders} == {"inbox": "delivered", "push": "sent", "file": "delivered"}
    assert [p["audience"]["registration_id"] for p in world.double.json_of("/push")] == [["device-1"]] * 2


def test_a_contact_registered_in_parts_keeps_every_address_it_was_given(world):
    handlers.set_contact(world.database.uow(), "V0002", {"push_token": "device-1", "email": "v2@example.cn"})
    handlers.set_contact(world.database.uow(), "V0002", {"push_token": "device-2"})
    with world.database.uow() as uow:
        uow.recipients.merge_contact(Contact("V0002", phone="13800000000", email=""))  # empty keeps what is stored
        uow.recipients.save_preferences("V0002", {"opt_out": []})
        uow.commit()
        contact, preferences = uow.recipients.get("V0002")
    assert (contact.push_token, contact.email, contact.phone) == ("device-2", "v2@example.cn", "13800000000")
    assert preferences == {"opt_out": []}
    with world.database.uow() as uow:  # what the merge answers is what is stored after it
        merged = uow.recipients.merge_contact(Contact("V0002", email="new@example.cn"))
        uow.commit()
        assert merged == uow.recipients.get("V0002")
    contact, preferences = merged
    assert (contact.push_token, contact.email, contact.phone) == ("device-2", "new@example.cn", "13800000000")
    assert preferences == {"opt_out": []}


# --- a consumed batch: one transaction for several events ---------------------------------------------------------


def statements_of(world, run) -> list[str]:
    """The SQL statements `run()` sends."""
    sent: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()))

    sa_event.listen(world.database.engine, "before_cursor_execute", seen)
    try:
        run()
    finally:
        sa_event.remove(world.database.engine, "before_cursor_execute", seen)
    return sent


def test_a_batch_for_several_people_writes_their_messages_in_one_statement_and_reads_each_once(world, backend):
    events = [case_assigned(f"HB-MANY-{i}", assignee=staff) for i, staff in enumerate(("S0100", "S0101", "S0102"))]
    sent = statements_of(world, lambda: world.consume_together(*events))
    assert len([s for s in sent if s.startswith('INSERT INTO "messages"')]) == 1
    # The person's directory entry comes with the compose reads: no statement of its own.
    assert [s for s in sent if s.startswith("SELECT") and "FROM recipients" in s and "UNION" not in s] == []
    # On PostgreSQL, everyone's in one statement (each appears once in the batch); elsewhere one each.
    compose_reads = [s for s in sent if s.startswith("SELECT") and "UNION" in s]
    assert len(compose_reads) == (1 if backend == "postgresql" else len(events))
    for e in events:
        assert {m.channel: m.status for m in world.messages(e.correlation_id)}.keys() == AFTER_ONE_PASS.keys()
        assert world.one(e.correlation_id, "inbox").status == "delivered"
    assert {len(world.attempts(e.correlation_id, "inbox")) for e in events} == {1}


def test_one_persons_events_in_one_batch_count_toward_each_others_limits_as_one_by_one(world):
    same = [case_assigned("HB-SAME"), case_assigned("HB-SAME")]  # the same words: the second is a duplicate
    over = [case_assigned(f"HB-RATE-{i}") for i in range(REF.policy.rate_limit_max)]  # the limit, with the first
    assert world.consume_together(*same, *over) == [True] * (len(same) + len(over))
    sms = {e.event_id: world.one(e.correlation_id, "sms") for e in (*same, *over)}
    # The batch takes its events in correlation order, so either may be the one that is a duplicate.
    [(kept, duplicate)] = [(a, b) for a, b in permutations(sms[e.event_id] for e in same) if b.status == "skipped"]
    assert duplicate.status_reason == f"duplicate of {kept.message_id}"
    statuses = sorted(m.status for m in sms.values() if m.status != "skipped")
    assert statuses == ["merged"] + ["pending"] * REF.policy.rate_limit_max


@pytest.mark.parametrize("first", ["report", "contact"])
def test_a_reporters_address_in_the_batch_of_the_report_reaches_the_receipt_whichever_comes_first(world, first):
    report_id = str(uuid.uuid4())
    batch = [report_accepted(report_id), contact(report_id)]
    world.consume_together(*(batch if first == "report" else reversed(batch)))
    sms = world.one(report_id, "sms")
    assert sms.status_reason != "awaiting_address"
    world.at(NOON)
    assert world.one(report_id, "sms").status == "sent" and world.one(report_id, "wechat").status == "sent"
    assert {s["PhoneNumbers"] for s in world.double.params_of("/aliyun")} == {"13900001234"}


def test_a_batch_read_together_composes_what_one_by_one_composes(world, new_database, double, backend):
    """The same events handled alone and in order in a second database, and as one batch: the same messages,
    statuses and reasons. Among them an event handled before under another consumer, as if its inbox row were
    lost (its messages exist, so none is composed again), and a reporter whose address is stored."""
    alone = Database(new_database("notification_alone"), metadata, "notification", NotificationUnitOfWork)
    metadata.create_all(alone.engine)
    one_by_one = World(alone, world.notifier, world.clock, double)
    earlier = case_assigned("HB-EARLIER", assignee="S0101")
    report_id = str(uuid.uuid4())
    for w in (world, one_by_one):
        w.consume(contact(report_id))
        w.consume(earlier)
    batch = [*(case_assigned(f"HB-BOTH-{i}", assignee=s) for i, s in enumerate(("S0100", "S0102"))), earlier]
    batch = [parse_envelope(json.loads(json.dumps(e.to_wire()))) for e in (*batch, report_accepted(report_id))]
    for e in batch:
        one_by_one.database.handle("notification.again", e, lambda uow, ev: handlers.on_event(uow, ev, world.notifier))
    sent = statements_of(
        world,
        lambda: world.database.handle_all(
            "notification.again", batch, lambda uow, evs: handlers.on_events(uow, evs, world.notifier), True
        ),
    )

    def outcome(w, correlation_id):
        return sorted((m.recipient_id, m.channel, m.status, m.status_reason) for m in w.messages(correlation_id))

    for e in batch:
        assert outcome(world, e.correlation_id) == outcome(one_by_one, e.correlation_id)
    assert len(outcome(world, earlier.correlation_id)) == len(AFTER_ONE_PASS)
    assert any(status == "pending" for _, channel, status, _ in outcome(world, report_id) if channel == "sms")
    # The three staff in one read on PostgreSQL; the reporter, whose address comes on its own event, alone.
    assert len([s for s in sent if s.startswith("SELECT") and "UNION" in s]) == (2 if backend == "postgresql" else 4)
    alone.dispose()


def test_a_batch_read_together_counts_what_each_person_was_sent_before(world):
    for i in range(REF.policy.rate_limit_max):
        world.consume(case_assigned(f"HB-BEFORE-{i}"))
    mine, theirs = case_assigned("HB-ONE-MORE"), case_assigned("HB-THEIRS", assignee="S0102")
    world.consume_together(mine, theirs)
    sms = world.one(mine.correlation_id, "sms")
    assert (sms.status, sms.status_reason) == ("merged", "rate_limited")
    assert world.one(theirs.correlation_id, "sms").status == "pending"


def test_a_batch_of_receipts_reads_each_reporter_just_before_composing_for_them(world):
    """Reporters' addresses come on their own event: read ahead for a whole batch, receipts outran those events."""
    reports = [str(uuid.uuid4()) for _ in range(3)]
    sent = statements_of(world, lambda: world.consume_together(*(report_accepted(r) for r in reports)))
    assert len([s for s in sent if s.startswith("SELECT") and "UNION" in s]) == len(reports)
    for report_id in reports:
        assert world.messages(report_id), "every receipt composed"
