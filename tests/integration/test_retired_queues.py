"""A service deletes the queues of event handlers it no longer has when it starts, but never one that an older
replica still consumes (a rolling upgrade), against a real RabbitMQ."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from amqp.exceptions import NotFound
from kombu import Connection, Queue

from console.entrypoints.service import ConsoleService
from gridlink.runtime.bus import events_exchange
from gridlink.runtime.config import REPO_ROOT
from gridlink.runtime.retired import RetiredQueues, retire

OLD_QUEUE = "evt-notification-message_sent--retiring.on_message_sent"


class Retiring:
    """A service that once had `on_message_sent` and has it no more."""

    name = "retiring"
    retired = RetiredQueues(OLD_QUEUE)


def declare_old_queue(connection: Connection, messages: int) -> None:
    """The queue nameko declared for the old handler, bound as it was, holding what nobody took."""
    channel = connection.channel()
    exchange = events_exchange("notification")(channel)
    exchange.declare()
    Queue(OLD_QUEUE, exchange=exchange, routing_key="message_sent", durable=True)(channel).declare()
    producer = connection.Producer(channel)
    for n in range(messages):
        producer.publish({"n": n}, exchange=exchange, routing_key="message_sent")
    channel.close()


def exists(connection: Connection, name: str) -> bool:
    channel = connection.channel()
    try:
        channel.queue_declare(name, passive=True)
        return True
    except NotFound:
        return False
    finally:
        if channel.is_open:
            channel.close()


def test_a_retired_queue_is_deleted_when_the_service_starts(container_factory, new_vhost):
    amqp = new_vhost()
    with Connection(amqp) as connection:
        declare_old_queue(connection, messages=3)
        assert exists(connection, OLD_QUEUE)
        container = container_factory(Retiring, {"AMQP_URI": amqp})
        container.start()
        assert not exists(connection, OLD_QUEUE)
        container.stop()
        container = container_factory(Retiring, {"AMQP_URI": amqp})
        container.start()  # nothing left to delete: starts all the same
        container.stop()


def test_a_queue_an_older_replica_still_consumes_is_left_until_it_has_gone(new_vhost):
    amqp = new_vhost()
    with Connection(amqp) as connection, Connection(amqp) as old_replica:
        declare_old_queue(connection, messages=1)
        consumer = old_replica.Consumer(Queue(OLD_QUEUE, no_declare=True), callbacks=[lambda body, message: None])
        consumer.consume()
        assert retire(connection, OLD_QUEUE) is False
        assert exists(connection, OLD_QUEUE)
        consumer.cancel()
        assert retire(connection, OLD_QUEUE) is True
        assert not exists(connection, OLD_QUEUE)
        assert retire(connection, OLD_QUEUE) is True  # already gone


@pytest.mark.parametrize("name", ConsoleService.retired.names)
def test_the_brokers_policy_expires_every_queue_the_console_retires(name):
    """The policy catches a queue an old replica kept past the last start: it must name the same queues."""
    policy = yaml.safe_load(Path(REPO_ROOT / "deploy/base/broker/retired-queues.yaml").read_text())
    assert policy["spec"]["applyTo"] == "queues" and policy["spec"]["definition"]["expires"] > 0
    assert re.fullmatch(policy["spec"]["pattern"].strip("^$"), name)
    assert name == "evt-notification-message_sent--console.on_message_sent"  # nameko's name for the old handler
