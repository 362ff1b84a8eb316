"""Queues a service no longer consumes, deleted when it starts so that they do not fill up for ever.

nameko declares a durable queue per event handler (`evt-<source>-<type>--<service>.<method>`), bound to the source's
exchange. Removing a handler leaves its queue behind, still collecting every event of that type with nobody to
take them, until the broker runs out of disk (and the queue-growth alert fires long before). A service names such
queues with `RetiredQueues(...)`; each start deletes them, but only while unused (`if_unused`): during a rolling
upgrade an older replica may still consume from one, and its events are its own until it stops. A queue an old
replica kept is deleted by the next start after it has gone, and District IT's broker policy
(deploy/base/broker/retired-queues.yaml) expires it a day after its last consumer left in any case.
"""

from __future__ import annotations

import logging

from amqp.exceptions import PreconditionFailed
from kombu import Connection
from nameko.extensions import DependencyProvider

log = logging.getLogger(__name__)


class RetiredQueues(DependencyProvider):
    def __init__(self, *names: str):
        self.names = names

    def start(self):
        try:
            with Connection(self.container.config["AMQP_URI"]) as connection:
                for name in self.names:
                    retire(connection, name)
        except Exception:  # the service runs without this; the next start tries again
            log.warning("could not delete retired queues %s", ", ".join(self.names), exc_info=True)

    def get_dependency(self, worker_ctx):
        return None


def retire(connection: Connection, name: str) -> bool:
    """Delete the queue if nobody consumes it (also when it does not exist); False while a consumer still does."""
    channel = connection.channel()
    try:
        dropped = channel.queue_delete(name, if_unused=True)
    except PreconditionFailed:  # the broker closed the channel: an older replica still consumes it
        log.info("retired queue %s still has a consumer; left for now", name)
        return False
    finally:
        if channel.is_open:
            channel.close()
    if dropped:
        log.warning("deleted retired queue %s with %s messages nobody was going to read", name, dropped)
    return True
