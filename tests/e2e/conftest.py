"""The whole platform as five real processes on a real broker, with a database each."""

from __future__ import annotations

import socket

import pytest

from gridlink.devstack import SERVICES, Stack


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_stack(amqp_uri: str, databases, log_dir) -> Stack:
    stack = Stack(
        env={"AMQP_URI": amqp_uri, "RETRY_DELAYS": "0.5,1,2", "OUTBOX_RELAY_INTERVAL": "0.2", "LOG_LEVEL": "INFO"},
        ports=dict(zip(SERVICES, free_ports(len(SERVICES)), strict=True)),
        database_urls={service: databases(service) for service in SERVICES},
        log_dir=log_dir,
    )
    stack.migrate()
    return stack


@pytest.fixture(scope="session")
def stack(amqp_uri, databases, tmp_path_factory):
    stack = make_stack(amqp_uri, databases, tmp_path_factory.mktemp("logs"))
    stack.start_all()
    try:
        stack.wait_ready(timeout=90)
        yield stack
    finally:
        stack.stop_all()
