"""The console's read model on both backends, without the bus: each recorded event folded into its stored case gives
the case a refold of all its events would, in any arrival order, and a case two workers create at once loses neither
event."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event

import console.adapters
from console.adapters.orm import metadata
from console.adapters.repository import ConsoleUnitOfWork
from console.domain.cases import project
from console.handlers import record_event, record_events
from gridlink.contracts import parse_envelope
from gridlink.runtime.db import BatchAbandoned, Database
from gridlink.runtime.migrations import upgrade
from tests.integration.test_console_service import (
    AT,
    GRID,
    case_assigned,
    case_overdue,
    message_sent,
    report_accepted,
)

MIGRATIONS = Path(console.adapters.__file__).parent / "migrations"


@pytest.fixture
def database(new_database, backend):
    url = new_database("console")
    upgrade(MIGRATIONS, url)
    database = Database(url, metadata, "console", ConsoleUnitOfWork)
    yield database
    database.dispose()


def record(database: Database, envelope) -> None:
    """As the consumer hands it over: parsed from the wire."""
    assert database.handle("console.test", parse_envelope(envelope.to_wire()), record_event)


def record_together(database: Database, envelopes) -> list[bool]:
    """As a batching consumer hands them over: one transaction for all."""
    wire = [parse_envelope(envelope.to_wire()) for envelope in envelopes]
    return database.handle_all("console.test", wire, record_events, together=True)


def stored(database: Database, correlation_id: str):
    with database.uow() as uow:
        return uow.cases.get(correlation_id), uow.events.for_correlation(correlation_id)


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
def test_each_event_folded_into_the_stored_case_gives_the_refold_of_all(database, order):
    cid = str(uuid.uuid4())
    envelopes = [report_accepted(cid), case_assigned(cid), case_overdue(cid)]
    for index in order:
        record(database, envelopes[index])
    case, events = stored(database, cid)
    assert case == project(cid, events)
    assert (case.state, case.overdue, case.tracking_code, case.description) == (
        "assigned",
        True,
        *["HB-261130-AAAAAA", "路灯不亮"],
    )
    assert case.last_event_type == "case_overdue" and case.reported_at == AT
    assert [e.type for e in events] == [envelopes[i].type for i in order]  # kept in arrival order
    assert all(e.grid_code == GRID for e in events)


def test_the_newest_event_of_a_known_case_is_stored_with_its_change_in_one_statement(database, backend):
    cid = str(uuid.uuid4())
    record(database, report_accepted(cid))
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    assigned = case_assigned(cid)
    record(database, assigned)
    writes = [s for s in statements if "INSERT INTO events" in s.replace('"', "") or "UPDATE cases" in s]
    # SQLite has no INSERT inside a WITH: there the event and its case's change remain two statements.
    assert len(writes) == (1 if backend == "postgresql" else 2)
    case, events = stored(database, cid)
    assert case == project(cid, events)
    assert (case.state, case.last_event_type, case.last_event_at) == ("assigned", "case_assigned", assigned.occurred_at)
    assert events[-1].payload == parse_envelope(assigned.to_wire()).payload


def test_events_before_the_grid_is_known_learn_it_when_it_is(database):
    cid = str(uuid.uuid4())
    record(database, message_sent(cid))  # notification's events carry no grid
    assert stored(database, cid)[1][0].grid_code is None
    record(database, report_accepted(cid, at=AT + timedelta(seconds=1)))  # newest: folded, not refolded
    case, events = stored(database, cid)
    assert case.grid_code == GRID and [e.grid_code for e in events] == [GRID, GRID]
    record(database, message_sent(cid, at=AT + timedelta(seconds=2)))
    assert stored(database, cid)[1][-1].grid_code == GRID  # a later one gets the case's


def test_a_case_another_worker_created_after_the_read_is_refolded_with_its_events(database, monkeypatch):
    """The read of a case that does not exist locks nothing: a second worker may insert it before this one."""
    cid = str(uuid.uuid4())
    record(database, report_accepted(cid))
    # this worker's first read of the case misses it, as if the worker that inserted it had not committed yet
    monkeypatch.setattr(
        ConsoleUnitOfWork, "_open_repositories", _blind_first_read(ConsoleUnitOfWork._open_repositories)
    )
    record(database, message_sent(cid, at=AT + timedelta(seconds=1)))
    case, events = stored(database, cid)
    assert case == project(cid, events)
    assert case.last_event_type == "message_sent" and case.description == "路灯不亮" and len(events) == 2
    assert [e.grid_code for e in events] == [GRID, GRID]  # the notification learnt the grid of the case it missed


def _blind_first_read(open_repositories):
    def open_with_a_blind_first_read(uow, session):
        open_repositories(uow, session)
        real, calls = uow.cases.get_for_update, []

        def get_for_update(correlation_id):
            calls.append(correlation_id)
            return None if len(calls) == 1 else real(correlation_id)

        uow.cases.get_for_update = get_for_update

    return open_with_a_blind_first_read


def shuffled_cases(seed: int) -> tuple[list[str], list]:
    """Six cases' five events each, shuffled together."""
    cids = [str(uuid.uuid4()) for _ in range(6)]
    work = [
        envelope
        for cid in cids
        for envelope in (
            report_accepted(cid),
            case_assigned(cid),
            message_sent(cid, at=AT + timedelta(minutes=1)),
            message_sent(cid, at=AT + timedelta(minutes=2)),
            case_overdue(cid),
        )
    ]
    random.Random(seed).shuffle(work)
    return cids, work


def each_case_is_its_refold(database: Database, cids: list[str]) -> None:
    for cid in cids:
        case, events = stored(database, cid)
        assert case == project(cid, events) and len(events) == 5
        assert case.state == "assigned" and case.overdue and all(e.grid_code == GRID for e in events)


def test_workers_recording_the_events_of_the_same_cases_at_once_leave_each_case_as_its_refold(database):
    """Real concurrency: each case's events are recorded by several threads at once, in a shuffled order."""
    cids, work = shuffled_cases(7)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda envelope: record(database, envelope), work))
    each_case_is_its_refold(database, cids)


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0)])
def test_events_recorded_together_give_what_recording_them_one_by_one_gives(database, order):
    together, alone = str(uuid.uuid4()), str(uuid.uuid4())
    for cid in (together, alone):
        record(database, report_accepted(cid))
    for cid in (alone,):
        for index in order:
            record(database, [case_assigned(cid), case_overdue(cid), case_assigned(cid)][index])
    batch = [case_assigned(together), case_overdue(together), case_assigned(together)]
    other = str(uuid.uuid4())  # a second case in the same batch, not known yet

    assert record_together(database, [batch[i] for i in order] + [report_accepted(other)]) == [True] * 4

    (case, events), (case_alone, events_alone) = stored(database, together), stored(database, alone)
    assert case == project(together, events)
    assert [e.type for e in events] == [e.type for e in events_alone]
    compared = ("state", "overdue", "grid_code", "assignee_id", "last_event_type", "last_event_at", "reported_at")
    assert [getattr(case, name) for name in compared] == [getattr(case_alone, name) for name in compared]
    assert stored(database, other)[0].tracking_code == "HB-261130-AAAAAA"


def test_the_newest_events_of_a_known_case_are_stored_with_one_lock_one_insert_and_one_update(database):
    cid = str(uuid.uuid4())
    record(database, report_accepted(cid))
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    record_together(database, [case_assigned(cid), case_overdue(cid)])

    case_statements = [s for s in statements if "processed_events" not in s]
    # The blank rows' insert (which finds the case there), the lock, both events, the case's change.
    assert len(case_statements) == 4, case_statements
    assert case_statements[0].replace('"', "").startswith("INSERT INTO cases"), case_statements
    case, events = stored(database, cid)
    assert case == project(cid, events)
    assert (case.state, case.overdue, [e.type for e in events]) == (
        "assigned",
        True,
        ["report_accepted", "case_assigned", "case_overdue"],
    )


def test_the_newest_events_of_several_known_cases_share_one_lock_one_insert_and_their_updates(database, backend):
    known = [str(uuid.uuid4()) for _ in range(3)]
    for cid in known:
        record(database, report_accepted(cid))
    new = str(uuid.uuid4())
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(" ".join(args[2].split())))

    record_together(database, [case_assigned(cid) for cid in known] + [case_overdue(known[0]), report_accepted(new)])

    reads = [s for s in statements if s.startswith("SELECT") and "FROM cases" in s]
    inserts = [s for s in statements if s.replace('"', "").startswith("INSERT INTO events")]
    updates = [s for s in statements if s.replace('"', "").startswith("UPDATE cases")]
    new_cases = [s for s in statements if s.replace('"', "").startswith("INSERT INTO cases")]
    # One insert makes the new case's blank row (and finds the three known), one read locks all four, one insert
    # stores all five events, then the updates: the two cases that only got their assignment changed the same
    # columns, so on PostgreSQL one statement writes both, another the first case's and another the new case's
    # fold; SQLite takes one per case.
    assert (len(reads), len(inserts), len(new_cases)) == (1, 1, 1), statements
    assert "IN" in reads[0]
    if backend == "postgresql":
        assert len(updates) == 3 and len([s for s in updates if "FROM (VALUES" in s]) == 1, updates
    else:
        assert len(updates) == 4, updates
    for cid in known:
        case, events = stored(database, cid)
        assert case == project(cid, events) and case.state == "assigned"
    case, events = stored(database, known[0])
    assert case.overdue and [e.type for e in events] == ["report_accepted", "case_assigned", "case_overdue"]
    case, events = stored(database, new)
    assert case == project(new, events) and case.tracking_code == "HB-261130-AAAAAA"


def test_an_event_out_of_order_in_a_batch_refolds_its_case_from_the_stored_events(database):
    late, other = str(uuid.uuid4()), str(uuid.uuid4())
    for cid in (late, other):
        record(database, report_accepted(cid))
    record(database, case_overdue(late))  # happened after the assignment that is still on its way
    statements = []
    event.listen(database.engine, "before_cursor_execute", lambda *args: statements.append(" ".join(args[2].split())))

    record_together(database, [case_assigned(late), case_assigned(other)])
    recorded = list(statements)  # before the checks' own reads

    case, events = stored(database, late)
    assert case == project(late, events)
    assert (case.state, case.overdue, case.last_event_type) == ("assigned", True, "case_overdue")
    assert [e.type for e in events] == ["report_accepted", "case_overdue", "case_assigned"]
    inserts = [s for s in recorded if s.replace('"', "").startswith("INSERT INTO events")]
    refolds = [s for s in recorded if s.startswith("SELECT") and "FROM events" in s]
    assert (len(inserts), len(refolds)) == (1, 1), recorded  # one insert for both; only the late case refolds
    assert stored(database, other)[0].state == "assigned"


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite admits one writer at a time: no such race there
def test_a_batch_recording_a_new_case_another_worker_is_creating_waits_for_it_and_folds_into_it(database):
    """Real concurrency: the other worker has inserted the case and not committed; the batch's blank row waits for
    that commit, then finds the case and folds its events into it (it used to be abandoned)."""
    cid, other = str(uuid.uuid4()), str(uuid.uuid4())
    inserted, release = threading.Event(), threading.Event()

    def creator() -> None:  # records the case's first event and holds its commit
        with database.uow() as uow:
            real_commit = uow.commit

            def held_commit() -> None:
                inserted.set()
                assert release.wait(10)
                real_commit()

            uow.commit = held_commit
            record_events(uow, [parse_envelope(report_accepted(cid).to_wire())])

    batch = [case_assigned(cid), report_accepted(other)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        created = pool.submit(creator)
        assert inserted.wait(10)
        recorded = pool.submit(record_together, database, batch)
        time.sleep(0.5)  # the batch is now waiting for the creator's row (or, on SQLite, for its write lock)
        assert not recorded.done()
        release.set()
        created.result(10)
        assert recorded.result(10) == [True, True]  # not abandoned
    case, events = stored(database, cid)
    assert case == project(cid, events) and case.state == "assigned" and case.description == "路灯不亮"
    assert [e.type for e in events] == ["report_accepted", "case_assigned"]
    assert stored(database, other)[0] == project(other, stored(database, other)[1])


def test_a_batch_whose_read_misses_a_case_it_did_not_create_is_recorded_event_by_event(database, monkeypatch):
    """Only if a case vanished between the batch's blank rows and its read (nothing deletes one): defensive."""
    cid, other = str(uuid.uuid4()), str(uuid.uuid4())
    record(database, report_accepted(cid))
    real = ConsoleUnitOfWork._open_repositories

    def blind(uow, session):  # the batch's read misses the case, as if its creator had not committed yet
        real(uow, session)
        all_for_update = uow.cases.all_for_update
        uow.cases.all_for_update = lambda keys: {k: v for k, v in all_for_update(keys).items() if k != cid}

    monkeypatch.setattr(ConsoleUnitOfWork, "_open_repositories", blind)
    batch = [message_sent(cid, at=AT + timedelta(seconds=1)), report_accepted(other)]
    with pytest.raises(BatchAbandoned):  # locking the case now could deadlock: nothing of the batch is kept
        record_together(database, batch)
    assert stored(database, other)[0] is None and len(stored(database, cid)[1]) == 1
    for envelope in batch:  # as the consumer then does: each event alone
        record(database, envelope)
    monkeypatch.undo()

    case, events = stored(database, cid)
    assert case == project(cid, events)
    assert case.last_event_type == "message_sent" and case.description == "路灯不亮" and len(events) == 2
    assert [e.grid_code for e in events] == [GRID, GRID]  # the notification learnt the grid of the case it missed


def test_workers_recording_batches_of_the_same_cases_at_once_leave_each_case_as_its_refold(database):
    """Real concurrency, as batching consumers: shuffled events of six cases, recorded three at a time by threads."""
    cids, work = shuffled_cases(11)
    batches = [work[i : i + 3] for i in range(0, len(work), 3)]

    def consume(batch) -> None:  # as the consumer does: a batch that cannot be recorded together goes one by one
        try:
            assert all(record_together(database, batch))
        except BatchAbandoned:
            for envelope in batch:
                record(database, envelope)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(consume, batches))
    each_case_is_its_refold(database, cids)


def test_the_database_tallies_cases_as_the_map_would_count_them_one_by_one(database):
    """The map's figures from the database's tallies equal those from every case folded one by one, and a
    performance report selects by the period's bounds exactly the cases the period holds."""
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from console.adapters.orm import cases
    from console.domain import figures

    rnd = random.Random(5)
    base = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)  # 1 December 00:00 in Wuhai
    rows = []
    for n in range(300):
        state = rnd.choice(["assigned", "escalated", "closed", "closed", "resolved"])
        rows.append(
            {
                "correlation_id": f"c{n}",
                "grid_code": rnd.choice([GRID, "150302001001002", "150302002001001", None]),
                "state": state,
                "overdue": state != "closed" and rnd.random() < 0.3,
                "due_soon": rnd.random() < 0.2,
                "was_overdue": False,
                "rating": rnd.choice([None, "", "satisfied", "basically_satisfied", "dissatisfied"]),
                "escalations": 0,
                "supervisions": 0,
                "reported_at": base + timedelta(hours=rnd.randint(-72, 72)),
            }
        )
    with database.engine.begin() as conn:
        conn.execute(insert(cases), rows)
    with database.uow() as uow:
        every = uow.cases.find(None)
        one_by_one = figures.grid_figures(
            figures.CaseTally(c.grid_code, c.state, c.overdue, c.due_soon, c.rating) for c in every
        )
        assert figures.grid_figures(uow.cases.tallies(None)) == one_by_one
        assert len(uow.cases.tallies(None)) < len(rows)  # alike cases share a tally
        scoped = figures.grid_figures(uow.cases.tallies("150302001"))
        assert set(scoped) == {GRID, "150302001001002"} and scoped[GRID] == one_by_one[GRID]

        period = figures.Period(date(2026, 12, 1), date(2026, 12, 1))
        selected = {c.correlation_id for c in uow.cases.find(None, reported=period.bounds())}
        assert selected == {c.correlation_id for c in every if period.holds(c.reported_at)}
        assert 0 < len(selected) < len(rows)
