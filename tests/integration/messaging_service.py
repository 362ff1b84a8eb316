"""A small service built on the runtime exactly as the real ones are, for testing the runtime itself.

It consumes dispatch's `case_assigned`, records one row per handled event, and can be told to fail;
`BatchingTestService` does the same in batches.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, text

from gridlink.runtime.dependencies import LogContext, Storage
from gridlink.runtime.entrypoints import event_consumer
from gridlink.runtime.tables import add_messaging_tables

metadata = MetaData()
effects = Table(
    "effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False),
    Column("case_id", String(36), nullable=False),
)
add_messaging_tables(metadata)

# How many more times the handler should raise before it succeeds; tests set it.
FAILURES = {"remaining": 0}
# Case ids whose events always fail (a poison event inside a batch), and the size of every batch handed over.
POISONED: set[str] = set()
# Case ids whose events run a query that always outlasts its statement timeout (PostgreSQL only).
TIMED_OUT: set[str] = set()
BATCH_SIZES: list[int] = []


class Flaky(RuntimeError):
    pass


def record_effect(uow, event) -> None:
    if FAILURES["remaining"] > 0:
        FAILURES["remaining"] -= 1
        raise Flaky("the handler failed on purpose")
    if event.payload["case_id"] in POISONED:
        raise Flaky("this event always fails")
    if event.payload["case_id"] in TIMED_OUT:
        uow.session.execute(text("SET LOCAL statement_timeout = 10"))
        uow.session.execute(text("SELECT pg_sleep(1)"))
    uow.session.execute(insert(effects).values(event_id=event.event_id, case_id=event.payload["case_id"]))
    uow.commit()


class MessagingTestService:
    name = "rtest"

    storage = Storage(metadata)
    log_context = LogContext()

    @event_consumer("dispatch", "case_assigned")
    def on_case_assigned(self, event):
        return self.storage.handle(event, record_effect)


class BatchingTestService:
    name = "rbatch"

    storage = Storage(metadata)
    log_context = LogContext()

    @event_consumer("dispatch", "case_assigned", batch=True)
    def on_case_assigned(self, events):
        BATCH_SIZES.append(len(events))
        return self.storage.handle_all(events, record_effect)


class LingeringTestService:
    name = "rlinger"

    storage = Storage(metadata)
    log_context = LogContext()

    @event_consumer("dispatch", "case_assigned", batch=True, linger=True)
    def on_case_assigned(self, events):
        BATCH_SIZES.append(len(events))
        return self.storage.handle_all(events, record_effect)
