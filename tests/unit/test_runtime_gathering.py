"""The gatherer that runs handed-off work in groups, on eventlet's green threads as the services run it."""

from __future__ import annotations

import eventlet
import pytest

from gridlink.runtime.gathering import Gatherer, concurrently


class Runs:
    """A `run` that records its groups and can be held until the test lets it finish."""

    def __init__(self):
        self.groups: list[list[int]] = []
        self.release = eventlet.event.Event()
        self.hold = False

    def __call__(self, group):
        self.groups.append(group)
        if self.hold:
            self.release.wait()
        if -1 in group:
            raise RuntimeError("this group fails")


@pytest.fixture
def runs():
    return Runs()


def test_what_is_put_without_yielding_runs_as_one_group(runs):
    gatherer = Gatherer(runs, runners=2, waiting=10)
    for item in range(5):
        gatherer.put(item)
    gatherer.wait()
    assert runs.groups == [[0, 1, 2, 3, 4]]
    gatherer.close()


def busy_runner(runs: Runs, waiting: int) -> Gatherer:
    """A gatherer with one runner, busy with a first group (of 0) until the test lets `runs` finish."""
    gatherer = Gatherer(runs, runners=1, waiting=waiting)
    runs.hold = True
    gatherer.put(0)
    eventlet.sleep(0)
    eventlet.sleep(0)  # the dispatcher took it; the one runner is busy
    return gatherer


def finish(runs: Runs, gatherer: Gatherer) -> None:
    runs.hold = False
    runs.release.send()
    gatherer.wait()


def test_what_comes_while_every_runner_is_busy_runs_together_once_one_is_free(runs):
    gatherer = busy_runner(runs, waiting=10)
    for item in (1, 2, 3):
        gatherer.put(item)
        eventlet.sleep(0)  # each one put in its own turn, as separate commits would
    assert runs.groups == [[0]]
    finish(runs, gatherer)
    assert runs.groups == [[0], [1, 2, 3]]
    gatherer.close()


def test_putting_waits_while_the_queue_is_full(runs):
    gatherer = busy_runner(runs, waiting=2)
    gatherer.put(1)
    eventlet.sleep(0.01)  # the dispatcher holds it, waiting for the runner
    gatherer.put(2)
    gatherer.put(3)
    fourth = eventlet.spawn(gatherer.put, 4)
    eventlet.sleep(0.01)
    assert not fourth.dead  # back-pressure: two are queued already
    finish(runs, gatherer)
    fourth.wait()
    assert runs.groups[0] == [0] and sorted(item for group in runs.groups[1:] for item in group) == [1, 2, 3, 4]
    gatherer.close()


def test_a_failing_group_is_logged_and_frees_its_runner(runs, caplog):
    gatherer = Gatherer(runs, runners=1, waiting=10)
    gatherer.put(-1)
    gatherer.wait()
    gatherer.put(7)
    gatherer.wait()
    assert runs.groups == [[-1], [7]]
    assert "work handed off after a commit failed" in caplog.text
    gatherer.close()


def test_concurrently_overlaps_the_calls_and_keeps_their_order():
    started = []

    def call(n):
        def run():
            started.append(n)
            eventlet.sleep(0.01 * (3 - n))  # the first call returns last
            return n * 10

        return run

    assert concurrently([call(0), call(1), call(2)]) == [0, 10, 20]
    assert started == [0, 1, 2]
