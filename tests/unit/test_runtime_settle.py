"""An ack or requeue that meets a dropped broker connection is logged, not raised: raised inside nameko's result
handler it would stop the whole service (seen under `make chaos`), while the broker redelivers the message anyway."""

import pytest
from amqp.exceptions import ConnectionForced

from gridlink.runtime.db import BatchAbandoned
from gridlink.runtime.entrypoints import EventConsumer


def failing(exc):
    def settle(_message):
        raise exc

    return settle


@pytest.mark.parametrize("dropped", [ConnectionResetError(104, "Connection reset by peer"), ConnectionForced("closed")])
def test_a_dropped_connection_does_not_escape(dropped, caplog):
    EventConsumer._settle(failing(dropped), object(), "ack")
    assert "it will be redelivered" in caplog.text


def test_anything_else_still_raises():
    with pytest.raises(ValueError):
        EventConsumer._settle(failing(ValueError("a bug")), object(), "ack")


def test_a_settled_message_is_settled_once():
    settled = []
    EventConsumer._settle(settled.append, "message", "ack")
    assert settled == ["message"]


def test_an_abandoned_batch_is_an_expected_error_of_a_batching_consumer_only():
    """nameko logs an expected error as a warning: an abandoned batch loses nothing (its events go one by one), so
    it must not be logged as an error with a traceback."""
    batching = EventConsumer("intake", "report_accepted", batch=True, expected_exceptions=KeyError)
    assert set(batching.expected_exceptions) == {KeyError, BatchAbandoned}
    assert EventConsumer("intake", "report_accepted", batch=True).expected_exceptions == (BatchAbandoned,)
    assert EventConsumer("intake", "report_accepted").expected_exceptions == ()
