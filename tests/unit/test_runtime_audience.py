"""Which events a process writes while nobody listens (runtime/audience.py), with a clock the test moves."""

from __future__ import annotations

from gridlink.runtime.audience import Audience


def audience(probe: float) -> tuple[Audience, list[float]]:
    clock = [0.0]
    return Audience(probe, clock=lambda: clock[0]), clock


def test_a_returned_type_for_whoever_binds_it_goes_unheard_for_the_probe_interval():
    heard, clock = audience(5)
    assert heard.returned("message_sent") is True
    assert not heard.wanted("message_sent")
    clock[0] = 4.99
    assert not heard.wanted("message_sent")
    clock[0] = 5.0
    assert heard.wanted("message_sent") and heard.wanted("message_sent")


def test_a_routed_one_ends_the_interval_at_once():
    heard, _ = audience(5)
    heard.returned("message_sent")
    heard.routed("message_sent")
    assert heard.wanted("message_sent")


def test_a_type_that_needs_a_consumer_is_always_wanted_and_its_return_is_a_fault():
    heard, _ = audience(5)
    assert heard.returned("case_assigned") is False
    assert heard.wanted("case_assigned") and heard.mandatory("case_assigned")


def test_with_no_probe_every_event_is_wanted_and_the_optional_type_goes_without_mandatory():
    heard, _ = audience(0)
    assert heard.returned("message_sent") is True
    assert heard.wanted("message_sent")
    assert not heard.mandatory("message_sent") and heard.mandatory("case_assigned")
    assert audience(5)[0].mandatory("message_sent")
