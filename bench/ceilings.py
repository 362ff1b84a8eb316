"""The ceilings GridLink is measured against, taken in the same run on the same machine.

- RabbitMQ: pika publishing persistent, mandatory messages with publisher confirms (one confirm per message, as a
  relay that publishes row by row would), and the same in batches (publish a window, then wait for its confirms);
  then consuming them all with acks.
- PostgreSQL: single-row INSERT + COMMIT in a loop on one psycopg2 connection (durable commits, the default).
"""

from __future__ import annotations

import json
import time
import uuid

import pika
import psycopg2

BODY = json.dumps(
    {"event_id": str(uuid.uuid4()), "type": "report_accepted", "payload": {"description": "x" * 600}},
).encode()


def rabbitmq(amqp_uri: str, seconds: float = 3.0, window: int = 100) -> dict:
    """Publish-with-confirms rates (per message, and windowed) and the consume rate, in messages per second."""
    params = pika.URLParameters(amqp_uri)
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    queue = f"bench-ceiling-{uuid.uuid4().hex[:6]}"
    channel.queue_declare(queue, durable=True)
    channel.confirm_delivery()
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    published = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        channel.basic_publish("", queue, BODY, props, mandatory=True)  # returns once the broker confirmed it
        published += 1
    confirm_rate = published / (time.perf_counter() - start)
    connection.close()

    # Windowed confirms need the asynchronous API: publish `window` messages, then wait for all their acks.
    windowed = _windowed_publish(params, queue, seconds, window)

    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.basic_qos(prefetch_count=200)
    total = published + windowed["published"]
    consumed = 0
    start = time.perf_counter()
    for method, _props, _body in channel.consume(queue, inactivity_timeout=5):
        if method is None:
            break
        consumed += 1
        channel.basic_ack(method.delivery_tag)
        if consumed >= total:
            break
    consume_rate = consumed / (time.perf_counter() - start)
    channel.cancel()
    channel.queue_delete(queue)
    connection.close()
    return {
        "publish_confirmed_per_message": round(confirm_rate, 1),
        "publish_confirmed_windowed": round(windowed["rate"], 1),
        "confirm_window": window,
        "consume_acked": round(consume_rate, 1),
        "messages": total,
    }


def _windowed_publish(params: pika.URLParameters, queue: str, seconds: float, window: int) -> dict:
    state = {"acked": 0, "sent": 0}
    connection = pika.SelectConnection(
        params,
        on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
        on_open_error_callback=lambda c, exc: c.ioloop.stop(),
        on_close_callback=lambda c, exc: c.ioloop.stop(),
    )
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
    started = [0.0]

    def on_channel(channel):
        channel.confirm_delivery(on_ack)
        started[0] = time.perf_counter()
        send(channel)

    def send(channel):
        for _ in range(window):
            channel.basic_publish("", queue, BODY, props, mandatory=True)
            state["sent"] += 1
        state["channel"] = channel

    def on_ack(frame):
        method = frame.method
        if isinstance(method, pika.spec.Basic.Nack):
            raise RuntimeError("the broker refused a message")
        state["acked"] = method.delivery_tag if method.multiple else state["acked"] + 1
        if state["acked"] >= state["sent"]:
            if time.perf_counter() - started[0] < seconds:
                send(state["channel"])
            else:
                state["elapsed"] = time.perf_counter() - started[0]
                connection.close()

    def give_up():
        if connection.is_open:
            connection.close()

    connection.ioloop.call_later(seconds * 10, give_up)
    connection.ioloop.start()
    elapsed = state.get("elapsed") or (time.perf_counter() - started[0])
    return {"published": state["sent"], "rate": state["acked"] / elapsed if elapsed else 0.0}


def postgresql(database_url: str, seconds: float = 3.0) -> dict:
    """Single-row commits per second on one connection: the floor every transaction of every service pays."""
    connection = psycopg2.connect(database_url)
    cursor = connection.cursor()
    cursor.execute("CREATE TABLE IF NOT EXISTS bench_commit (id bigserial PRIMARY KEY, body text NOT NULL)")
    connection.commit()
    row = "x" * 600
    commits = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        cursor.execute("INSERT INTO bench_commit (body) VALUES (%s)", (row,))
        connection.commit()
        commits += 1
    rate = commits / (time.perf_counter() - start)
    cursor.execute("DROP TABLE bench_commit")
    connection.commit()
    connection.close()
    return {"single_row_commits": round(rate, 1)}
