"""An example partner adapter: a department's own system answering mediation referrals over plain AMQP.

It uses pika and GridLink's contracts package only (no nameko, no service code). It binds a durable queue to
`mediation.events` for `dispute_referred`, keeps the referrals addressed to its department, and answers each on
its own exchange `partner.<department>.events`: accepted, then a session, then the outcome. Each answer's
`event_id` is derived from the referral and the step, so a redelivered referral produces byte-identical answers
that mediation recognises and ignores. A referral is acknowledged only after its answers are confirmed by the broker.

    python services/mediation/examples/partner_adapter.py --amqp amqp://guest:guest@127.0.0.1:5672/ \
        --department court --outcome agreement --count 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta

import pika

from gridlink.contracts import new_envelope, parse_envelope

NAMESPACE = uuid.UUID("6f1c3a52-9d0b-4c61-8a57-3c1b2f0e9a10")


def answers(referral: dict, correlation_id: str, department: str, outcome: str, now: datetime) -> list[dict]:
    """The partner's replies to one referral, in order, as wire envelopes with stable event ids."""
    base = {
        "referral_id": referral["referral_id"],
        "dispute_id": referral["dispute_id"],
        "case_code": referral["case_code"],
    }
    start = (now + timedelta(days=2)).replace(hour=1, minute=0, second=0, microsecond=0)
    steps = [
        ("partner_referral_accepted", {**base, "partner_case_ref": f"({now:%Y})诉前调{referral['seq']:04d}号"}),
        (
            "partner_session_scheduled",
            {
                **base,
                "session_ref": f"S-{referral['referral_id'][:8]}",
                "starts_at": start,
                "ends_at": start + timedelta(hours=1),
                "online": False,
                "location": "法院诉调对接中心",
            },
        ),
        (
            "partner_outcome_reported",
            {
                **base,
                "outcome": outcome,
                "reason": None if outcome == "agreement" else "双方分歧较大",
                "agreement_ref": "调解书001" if outcome == "agreement" else None,
                "performance_due_on": date.today() + timedelta(days=15) if outcome == "agreement" else None,
            },
        ),
    ]
    wires = []
    for step, (event_type, payload) in enumerate(steps):
        envelope = new_envelope(
            type=event_type, source=f"partner.{department}", payload=payload, correlation_id=correlation_id
        )
        wire = envelope.to_wire()
        wire["event_id"] = str(uuid.uuid5(NAMESPACE, f"{referral['referral_id']}:{step}"))
        wires.append(wire)
    return wires


def run(amqp: str, department: str, outcome: str, count: int, gap: float = 2.0) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(amqp))
    channel = connection.channel()
    channel.confirm_delivery()
    exchange = f"partner.{department}.events"
    queue = f"partner.{department}.referrals"
    channel.exchange_declare("mediation.events", exchange_type="topic", durable=True)
    channel.exchange_declare(exchange, exchange_type="topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, "mediation.events", routing_key="dispute_referred")
    print("ready", flush=True)
    handled = 0
    for method, _properties, body in channel.consume(queue, inactivity_timeout=120):
        if method is None:
            break
        referral = parse_envelope(json.loads(body))
        if referral.payload["partner_code"] == department:
            for wire in answers(referral.payload, referral.correlation_id, department, outcome, datetime.now(UTC)):
                channel.basic_publish(
                    exchange,
                    wire["type"],
                    json.dumps(wire, ensure_ascii=False).encode(),
                    pika.BasicProperties(
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                        message_id=wire["event_id"],
                        type=wire["type"],
                    ),
                    mandatory=True,
                )
                print(f"sent {wire['type']} for {referral.payload['case_code']}", flush=True)
                # A department answers in steps, hours apart in real life. GridLink consumes each answer type on
                # its own queue, so answers sent back to back may be handled out of order; an answer that
                # overtakes the acceptance is retried, but a session reported after the outcome is refused.
                time.sleep(gap)
            handled += 1
        channel.basic_ack(method.delivery_tag)
        if handled >= count:
            break
    connection.close()
    return 0 if handled >= count else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp", default="amqp://guest:guest@127.0.0.1:5672/%2F")
    parser.add_argument("--department", default="court", choices=("court", "labour_arbitration", "legal_aid"))
    parser.add_argument("--outcome", default="agreement", choices=("agreement", "failed", "withdrawn"))
    parser.add_argument("--count", type=int, default=1, help="referrals to answer before exiting")
    args = parser.parse_args(argv)
    return run(args.amqp, args.department, args.outcome, args.count)


if __name__ == "__main__":
    sys.exit(main())
