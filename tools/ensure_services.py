#!/usr/bin/env python3
"""Make sure the local RabbitMQ (with its management API) and PostgreSQL answer, starting them when they are
installed here but stopped. Standard library only: it runs before the virtualenv exists.

    python3 tools/ensure_services.py rabbitmq [postgres]
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from urllib.parse import urlparse

WAIT_SECONDS = 90


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def wait_for(host: str, port: int, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if answers(host, port):
            return
        time.sleep(1)
    sys.exit(f"{what} did not answer on {host}:{port} within {WAIT_SECONDS}s")


def is_local(host: str) -> bool:
    return host in ("127.0.0.1", "localhost", "::1")


def ensure_rabbitmq() -> None:
    uri = urlparse(os.environ.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"))
    host, port = uri.hostname or "127.0.0.1", uri.port or 5672
    if not answers(host, port):
        if not is_local(host) or not shutil.which("rabbitmq-server"):
            sys.exit(
                f"RabbitMQ does not answer at {host}:{port}. Install it (Debian: apt-get install rabbitmq-server) "
                "and start it with 'rabbitmq-server -detached', or point AMQP_URI at a running broker."
            )
        print("starting RabbitMQ (rabbitmq-server -detached)…", flush=True)
        subprocess.run(["rabbitmq-server", "-detached"], check=False)
        wait_for(host, port, "RabbitMQ")
    if is_local(host) and shutil.which("rabbitmq-plugins") and not answers(host, 15672):
        # The management API serves the test fixtures (a vhost per test session) and operators' dashboards.
        subprocess.run(["rabbitmq-plugins", "enable", "--quiet", "rabbitmq_management"], check=False)
        wait_for(host, 15672, "the RabbitMQ management API")
    print(f"RabbitMQ answers at {host}:{port}", flush=True)


def ensure_postgres() -> None:
    url = urlparse(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    if not url.scheme.startswith("postgresql"):
        return
    host, port = url.hostname or "127.0.0.1", url.port or 5432
    if not answers(host, port):
        clusters = glob.glob("/etc/postgresql/*/main")
        if not is_local(host) or not shutil.which("pg_ctlcluster") or not clusters:
            sys.exit(
                f"PostgreSQL does not answer at {host}:{port}. Install it (Debian: apt-get install postgresql) "
                "or point DATABASE_URL at a running server."
            )
        version = clusters[0].split("/")[3]
        print(f"starting PostgreSQL {version}…", flush=True)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"], check=False)
        wait_for(host, port, "PostgreSQL")
    print(f"PostgreSQL answers at {host}:{port}", flush=True)


def main(argv: list[str]) -> None:
    wanted = argv or ["rabbitmq"]
    for name in wanted:
        {"rabbitmq": ensure_rabbitmq, "postgres": ensure_postgres}[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
