"""Retry and dead-letter bookkeeping carried in message headers."""

from gridlink.runtime import deadletter


def test_retry_queues_expire_back_into_the_consumer_queue_only():
    q = deadletter.retry_queue("evt-intake-report_accepted--dispatch.on_report_accepted", 5)
    assert q.name.endswith(".retry.5000ms")
    assert q.queue_arguments == {
        "x-message-ttl": 5000,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "evt-intake-report_accepted--dispatch.on_report_accepted",
    }


def test_attempts_are_read_defensively():
    assert deadletter.attempts_of(None) == 0
    assert deadletter.attempts_of({deadletter.ATTEMPTS: 3}) == 3
    assert deadletter.attempts_of({deadletter.ATTEMPTS: "garbage"}) == 0


def test_a_replay_starts_afresh_but_keeps_the_senders_headers():
    letter = deadletter.dead_letter_headers(
        {"x-death": [{}], deadletter.ATTEMPTS: 5, "traceparent": "abc"},
        "handler_failed",
        "Boom" * 2000,
        "q",
        {"exchange": "intake.events", "routing_key": "report_accepted"},
    )
    assert len(letter[deadletter.ERROR]) == deadletter.MAX_ERROR_CHARS
    assert letter[deadletter.ORIGINAL_ROUTING_KEY] == "report_accepted"
    assert "x-death" not in letter
    assert deadletter.replay_headers(letter) == {"traceparent": "abc"}
