"""Work handed off after a commit, run in groups: what was handed off while the runners were busy goes together.

A service that follows each commit with work of its own (notification's delivery passes) would otherwise run one
piece at a time, each with its own transaction to record its outcome. Gathered, the pieces of a consumed batch,
and whatever came while every runner was busy, are run by one call that can save them in one transaction. Under
light load a group is what one commit handed off; under heavy load groups grow by themselves.

Green threads (eventlet), as nameko runs the services; `concurrently` is the same for the calls inside a group.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import eventlet
from eventlet.queue import Empty, LightQueue
from eventlet.semaphore import Semaphore

log = logging.getLogger(__name__)

Item = TypeVar("Item")


class Gatherer(Generic[Item]):
    """`put` items; `run(group)` is called with the items gathered since the last group started, at most `runners`
    groups at once. `put` waits while `waiting` items are queued: back-pressure on whoever hands work off, rather
    than a queue that grows while the runners are slow."""

    def __init__(self, run: Callable[[list[Item]], None], runners: int, waiting: int) -> None:
        self._run = run
        self._queue: LightQueue = LightQueue(waiting)
        self._slots = Semaphore(runners)
        self._outstanding = 0  # put and not yet run to the end
        self._dispatcher = eventlet.spawn(self._dispatch)

    def put(self, item: Item) -> None:
        self._outstanding += 1
        # Waking the dispatcher is scheduled, not immediate: the caller's further puts (the rest of a commit's
        # follow-ups, run one after another without yielding) join the same group.
        self._queue.put(item)

    def _dispatch(self) -> None:
        while True:
            first = self._queue.get()
            self._slots.acquire()  # only now gather, so that what came while every runner was busy goes too
            group = [first]
            while True:
                try:
                    group.append(self._queue.get_nowait())
                except Empty:
                    break
            eventlet.spawn_n(self._run_group, group)

    def _run_group(self, group: list[Item]) -> None:
        try:
            self._run(group)
        except Exception:
            log.exception("work handed off after a commit failed", extra={"fields": {"items": len(group)}})
        finally:
            self._outstanding -= len(group)
            self._slots.release()

    def wait(self, poll: float = 0.01) -> None:
        """Until everything put so far has run (a stopping service finishes what it handed off)."""
        while self._outstanding:
            eventlet.sleep(poll)

    def close(self) -> None:
        self._dispatcher.kill()


def concurrently(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call on its own green thread; their results in order, once all have returned."""
    if len(calls) == 1:
        return [calls[0]()]
    pile = eventlet.GreenPile(len(calls))
    for call in calls:
        pile.spawn(call)
    return list(pile)
