"""How long a batch waits for more events: a lingering consumer always waits; any other batching consumer waits
only while events flow, so a lone event after a quiet spell is handled at once."""

from gridlink.runtime.entrypoints import EventConsumer


def consumer(linger: float = 0.0, flow_linger: float = 0.05) -> EventConsumer:
    made = EventConsumer("intake", "report_accepted", batch=True, linger=bool(linger))
    made.linger_seconds, made.flow_linger_seconds = linger, flow_linger
    return made


def test_the_first_event_and_one_after_a_quiet_spell_wait_for_nothing():
    batching = consumer()
    assert batching._linger_for(100.0) == 0.0
    assert batching._linger_for(100.5) == 0.0  # 0.5 s after the previous: not a flow


def test_an_event_close_behind_another_waits_for_more():
    batching = consumer()
    batching._linger_for(100.0)
    assert batching._linger_for(100.03) == 0.05
    assert batching._linger_for(100.07) == 0.05  # measured from the previous event, not the first
    assert batching._linger_for(100.2) == 0.0


def test_no_flow_linger_batches_only_what_arrived_together():
    batching = consumer(flow_linger=0.0)
    batching._linger_for(100.0)
    assert batching._linger_for(100.0) == 0.0


def test_a_lingering_consumer_always_waits_its_own_linger():
    lingering = consumer(linger=0.2)
    assert lingering._linger_for(100.0) == 0.2
    assert lingering._linger_for(100.01) == 0.2
