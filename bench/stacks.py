"""The processes a benchmark run starts: GridLink's stack (optionally with extra replicas) and the plain pipeline.

Both reuse `gridlink.devstack.Stack` (env, ports, databases, logs, readiness, stop) and change only what they start.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from dataclasses import dataclass

from bench import plain
from gridlink.devstack import SERVICES, Stack
from gridlink.runtime.config import REPO_ROOT


def free_ports(n: int) -> list[int]:
    """n ports nobody listens on now, so a run never collides with `make run` (8001–8005) or another stack."""
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class ReplicatedStack(Stack):
    """GridLink's services (all of `devstack.SERVICES`, or the `services` given), plus `start_replica(service, n)`:
    another process of a service on its own port, sharing the first one's database and broker (competing
    consumers, relays claiming rows under SKIP LOCKED)."""

    services: tuple[str, ...] = SERVICES

    def migrate(self) -> None:
        for service in self.services:
            subprocess.run([sys.executable, "-m", service, "migrate"], env=self.service_env(service), check=True)

    def start_all(self) -> None:
        for service in self.services:
            self.start(service)

    def start_replica(self, service: str, n: int, port: int) -> str:
        name = f"{service}-{n}"
        self.ports[name] = port
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - the child process owns it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", service, "run"],
            env=self.service_env(service, {"HTTP_PORT": str(port)}),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        return name


class PlainStack(Stack):
    """The plain nameko pipeline (bench/plain.py): three processes, same env knobs, same readiness probe."""

    def migrate(self) -> None:
        for service in plain.SERVICES:
            plain.migrate(service, self.database_urls[service])

    def start(self, service: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"plain-{service}.log", "ab")  # noqa: SIM115 - the child process owns it
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.plain", service],
            env=self.service_env(service, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self.processes[service] = process
        return process

    def start_all(self) -> None:
        for service in plain.SERVICES:
            self.start(service)
