"""Operators' tool for dead letters: list, show and replay what each service parked, with its reason.

    python -m gridlink.runtime.dlq list [--service dispatch]
    python -m gridlink.runtime.dlq show DEAD_LETTER_ID
    python -m gridlink.runtime.dlq replay DEAD_LETTER_ID | --all [--service dispatch]

Browsing takes the messages without acknowledging them and closes the channel, so the broker puts them back.
A replay sends the original body to the queue it failed on, with its retry count reset, then removes the letter.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kombu import Connection, Queue

from gridlink.runtime import deadletter
from gridlink.runtime.bus import Bus

SERVICES = ("intake", "dispatch", "mediation", "volunteer", "notification", "console")


@dataclass
class DeadLetter:
    service: str
    dead_letter_id: str
    reason: str
    error: str
    original_queue: str
    routing_key: str
    attempts: int
    failed_at: str
    body: bytes
    content_type: str | None
    content_encoding: str | None
    headers: dict
    _message: object = None

    def summary(self) -> dict:
        return {
            "service": self.service,
            "id": self.dead_letter_id,
            "reason": self.reason,
            "queue": self.original_queue,
            "routing_key": self.routing_key,
            "attempts": self.attempts,
            "failed_at": self.failed_at,
            "error": self.error.strip().splitlines()[-1][:200] if self.error.strip() else "",
        }


@contextmanager
def browse(amqp_uri: str, service: str) -> Iterator[list[DeadLetter]]:
    """Every letter in `service`'s dead-letter queue, held unacknowledged until the block ends."""
    with Connection(amqp_uri) as conn:
        channel = conn.channel()
        queue = deadletter.dead_letter_queue(service)(channel)
        queue.declare()
        letters = []
        while True:
            message = queue.get(no_ack=False)
            if message is None:
                break
            h = message.headers or {}
            letters.append(
                DeadLetter(
                    service=service,
                    dead_letter_id=str(h.get(deadletter.DEAD_LETTER_ID, message.delivery_tag)),
                    reason=str(h.get(deadletter.REASON, "")),
                    error=str(h.get(deadletter.ERROR, "")),
                    original_queue=str(h.get(deadletter.ORIGINAL_QUEUE, "")),
                    routing_key=str(h.get(deadletter.ORIGINAL_ROUTING_KEY, "")),
                    attempts=deadletter.attempts_of(h),
                    failed_at=str(h.get(deadletter.FAILED_AT, "")),
                    body=message.body,
                    content_type=message.content_type,
                    content_encoding=message.content_encoding,
                    headers=dict(h),
                    _message=message,
                )
            )
        try:
            yield letters
        finally:
            channel.close()  # whatever was not acked goes back to the queue


def list_letters(amqp_uri: str, services=SERVICES) -> list[DeadLetter]:
    found = []
    for service in services:
        with browse(amqp_uri, service) as letters:
            found.extend(letters)
    return found


def replay(amqp_uri: str, services=SERVICES, ids: set[str] | None = None) -> list[str]:
    """Replay the letters whose ids are given (all of them when `ids` is None); returns the ids replayed."""
    bus = Bus(amqp_uri)
    done = []
    for service in services:
        with browse(amqp_uri, service) as letters:
            for letter in letters:
                if ids is not None and letter.dead_letter_id not in ids:
                    continue
                if not letter.original_queue:
                    continue
                # Declared passively in effect: the consumer owns the queue; we only need its name to route.
                bus.send_to_queue(
                    Queue(letter.original_queue, no_declare=True),
                    letter.body,
                    deadletter.replay_headers(letter.headers),
                    letter.content_type,
                    letter.content_encoding,
                )
                letter._message.ack()
                done.append(letter.dead_letter_id)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridlink.runtime.dlq", description="GridLink dead letters")
    parser.add_argument("--amqp-uri", default=os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    parser.add_argument("--service", choices=SERVICES, action="append", help="limit to these services")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list")
    show = sub.add_parser("show")
    show.add_argument("id")
    rep = sub.add_parser("replay")
    rep.add_argument("id", nargs="?")
    rep.add_argument("--all", action="store_true")
    args = parser.parse_args(argv)
    services = tuple(args.service or SERVICES)

    if args.command == "list":
        letters = list_letters(args.amqp_uri, services)
        for letter in letters:
            print(json.dumps(letter.summary(), ensure_ascii=False))
        print(f"{len(letters)} dead letter(s) in {', '.join(services)}", file=sys.stderr)
        return 0
    if args.command == "show":
        for letter in list_letters(args.amqp_uri, services):
            if letter.dead_letter_id == args.id:
                detail = {**letter.summary(), "error": letter.error, "headers": letter.headers}
                detail["body"] = (
                    letter.body.decode("utf-8", "replace") if isinstance(letter.body, bytes) else letter.body
                )
                print(json.dumps(detail, ensure_ascii=False, indent=2, default=str))
                return 0
        print(f"no dead letter {args.id}", file=sys.stderr)
        return 1
    if not args.all and not args.id:
        parser.error("replay needs an id or --all")
    done = replay(args.amqp_uri, services, None if args.all else {args.id})
    print(f"replayed {len(done)} dead letter(s)", file=sys.stderr)
    return 0 if done or args.all else 1


if __name__ == "__main__":
    sys.exit(main())
