"""The inbox claim (`UnitOfWork.claim_event`) as INSERT ... ON CONFLICT DO NOTHING, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select

from tests.integration.messaging_service import effects, metadata
from tests.integration.test_consumer import case_assigned


@pytest.fixture
def database(runtime_database):
    return runtime_database("inbox", metadata, "rtest")


def test_a_duplicate_claim_is_refused_without_undoing_the_rest_of_the_unit_of_work(database):
    envelope = case_assigned()
    with database.uow() as uow:
        assert uow.claim_event("rtest.on_case_assigned", envelope) is True
        uow.commit()
    with database.uow() as uow:
        uow.session.execute(insert(effects).values(event_id="other", case_id="kept"))
        assert uow.claim_event("rtest.on_case_assigned", envelope) is False
        assert uow.claim_event("rtest.another_consumer", envelope) is True
        uow.commit()
    with database.engine.connect() as conn:
        assert list(conn.execute(select(effects.c.case_id)).scalars()) == ["kept"]
        inbox = metadata.tables["processed_events"]
        assert sorted(conn.execute(select(inbox.c.consumer)).scalars()) == [
            "rtest.another_consumer",
            "rtest.on_case_assigned",
        ]


def test_a_claim_that_is_rolled_back_can_be_made_again(database):
    envelope = case_assigned()
    with database.uow() as uow:
        assert uow.claim_event("rtest.on_case_assigned", envelope) is True
        # no commit: the handler failed, so the event must be handled again on redelivery
    with database.uow() as uow:
        assert uow.claim_event("rtest.on_case_assigned", envelope) is True
