"""`while_unavailable`: work done again only while the database is unavailable, with a pause before each attempt,
then given up. (Tests with a real database going away: `test_notification_delivery.py`, "briefly unavailable".)"""

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from gridlink.runtime.db import UNAVAILABLE_PAUSES, while_unavailable


class Uow:
    def __init__(self):
        self.rollbacks = 0

    def rollback(self):
        self.rollbacks += 1


def failing(times: int, error: Exception):
    calls = []

    def work(uow):
        calls.append(uow)
        if len(calls) <= times:
            raise error
        return "saved"

    return work, calls


UNAVAILABLE = OperationalError("UPDATE messages", {}, Exception("server closed the connection unexpectedly"))


def test_work_is_done_again_after_a_pause_while_the_database_is_unavailable():
    uow, pauses = Uow(), []
    work, calls = failing(2, UNAVAILABLE)
    assert while_unavailable(uow, work, sleep=pauses.append) == "saved"
    assert len(calls) == 3 and uow.rollbacks == 2 and pauses == list(UNAVAILABLE_PAUSES[:2])


def test_a_failure_that_is_not_the_databases_availability_is_raised_at_once():
    uow, pauses = Uow(), []
    work, calls = failing(1, IntegrityError("INSERT", {}, Exception("duplicate key")))
    with pytest.raises(IntegrityError):
        while_unavailable(uow, work, sleep=pauses.append)
    assert len(calls) == 1 and pauses == [] and uow.rollbacks == 0


def test_it_gives_up_after_the_last_pause_and_raises_what_the_database_said():
    uow, pauses = Uow(), []
    work, calls = failing(99, UNAVAILABLE)
    with pytest.raises(OperationalError):
        while_unavailable(uow, work, pauses=(0.1, 0.2), sleep=pauses.append)
    assert len(calls) == 3 and pauses == [0.1, 0.2]
