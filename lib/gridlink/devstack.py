"""Runs the whole platform as local processes: `make run` uses it, and so do the end-to-end and fault tests.

Each service is its own process (`python -m <service> run`) with its own database and HTTP port, exactly as in a
Deployment; this module only starts, watches and stops them.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from gridlink.runtime.config import REPO_ROOT

SERVICES = ("intake", "dispatch", "mediation", "volunteer", "notification", "console")
DEFAULT_PORTS = {
    "intake": 8001,
    "dispatch": 8002,
    "mediation": 8003,
    "volunteer": 8004,
    "notification": 8005,
    "console": 8006,
}

# notification's default SMTP port (NOTIFICATION_SMTP_PORT): `make run` serves it with a local mail sink.
DEFAULT_SMTP_PORT = 1025


@dataclass
class Stack:
    env: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    database_urls: dict[str, str] = field(default_factory=dict)
    log_dir: Path = REPO_ROOT / "var" / "log"
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Where notification's e-mail goes when `start_mail_sink` ran: a real SMTP server on this port.
    smtp_port: int | None = None

    def url(self, service: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[service]}{path}"

    def service_env(self, service: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        env = {**os.environ, **self.env, "HTTP_PORT": str(self.ports[service]), "PYTHONUNBUFFERED": "1"}
        env.pop("DATABASE_URL", None)
        if service in self.database_urls:
            env["DATABASE_URL"] = self.database_urls[service]
        if service == "notification" and self.smtp_port is not None:
            env["NOTIFICATION_SMTP_PORT"] = str(self.smtp_port)
        if service == "console":
            # The console acts on a person's behalf through dispatch's staff API and reads a case's messages from
            # notification's, wherever this stack put them.
            env["CONSOLE_DISPATCH_URL"] = self.url("dispatch")
            env["CONSOLE_NOTIFICATION_URL"] = self.url("notification")
        env.update(extra or {})
        return env

    def migrate(self) -> None:
        for service in SERVICES:
            subprocess.run([sys.executable, "-m", service, "migrate"], env=self.service_env(service), check=True)

    def start(self, service: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{service}.log", "ab")  # noqa: SIM115 - the child process owns it
        process = subprocess.Popen(
            [sys.executable, "-m", service, "run"],
            env=self.service_env(service, extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self.processes[service] = process
        return process

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)

    def start_mail_sink(self, port: int, mail_dir: Path) -> subprocess.Popen:
        """A real SMTP server (aiosmtpd) that keeps every message in a Maildir, so local e-mail is delivered and
        can be read, rather than failing five times against a port nobody listens on. Start it before notification.
        """
        self.log_dir.mkdir(parents=True, exist_ok=True)
        mail_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / "mail.log", "ab")  # noqa: SIM115 - the child process owns it
        handler = ["-c", "aiosmtpd.handlers.Mailbox", str(mail_dir)]
        process = subprocess.Popen(
            [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{port}", *handler],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO_ROOT,
        )
        self.processes["mail"] = process
        self.smtp_port = port
        return process

    def ready(self, service: str) -> bool:
        try:
            with urllib.request.urlopen(self.url(service, "/readyz"), timeout=2) as response:
                return response.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self, services=SERVICES, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        pending = list(services)
        while pending and time.monotonic() < deadline:
            for service in list(pending):
                process = self.processes.get(service)
                if process is not None and process.poll() is not None:
                    raise RuntimeError(f"{service} exited with {process.returncode}; see {self.log_dir}/{service}.log")
                if self.ready(service):
                    pending.remove(service)
            time.sleep(0.2)
        if pending:
            raise TimeoutError(f"not ready after {timeout}s: {', '.join(pending)} (logs in {self.log_dir})")

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.pop(service, None)
        if process is None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for service in list(self.processes):
            self.kill(service, signal.SIGTERM)


def sample_request() -> tuple[dict, str]:
    """A report on a real grid, and the grid worker who should get it: what the printed curl shows."""
    from gridlink.refdata import load_categories, load_grid_map, load_staff

    grids = load_grid_map()
    grid = grids.grids[sorted(grids.grids)[0]]
    lat, long = grid.centroid
    category = next(c for c in load_categories().values() if c.kind == "general")
    worker = next(
        s.staff_id for s in load_staff() if s.role in ("full_time_worker", "rural_worker") and grid.code in s.grid_codes
    )
    body = {
        "category": category.code,
        "description": f"{category.name}：{grid.name}附近，请尽快处理",
        "lat": round(lat, 6),
        "long": round(long, 6),
        "reporter": {"name": "张女士", "phone": "13900001234"},
    }
    return body, worker


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _database_urls(base: str | None) -> dict[str, str]:
    """With DATABASE_URL set, each service gets its own database on that server (created when missing)."""
    if not base:
        return {}
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    url = make_url(base)
    urls = {}
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for service in SERVICES:
            name = f"gridlink_{service}"
            if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            urls[service] = url.set(database=name).render_as_string(hide_password=False)
    admin.dispose()
    return urls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gridlink.devstack")
    parser.add_argument("command", choices=["run"])
    parser.parse_args(argv)

    stack = Stack(database_urls=_database_urls(os.environ.get("DATABASE_URL")))
    print("migrating the five databases…", flush=True)
    stack.migrate()
    if _listening(DEFAULT_SMTP_PORT):
        print(f"an SMTP server already answers on 127.0.0.1:{DEFAULT_SMTP_PORT}; e-mail goes there", flush=True)
    else:
        stack.start_mail_sink(DEFAULT_SMTP_PORT, REPO_ROOT / "var" / "mail")
    stack.start_all()
    stopping = False

    def _stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        stack.wait_ready()
    except (RuntimeError, TimeoutError) as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        stack.stop_all()
        return 1
    body, worker = sample_request()
    print("\nGridLink is running with the Haibowan data:")
    for service in SERVICES:
        print(f"  {service:<13} {stack.url(service)}   (/healthz /readyz /metrics)")
    print(f"  e-mail        SMTP on 127.0.0.1:{DEFAULT_SMTP_PORT}, kept in var/mail/new/ (one file per message)")
    print(f"  logs          {stack.log_dir}/<service>.log (JSON lines)\n")
    print("Post a report:")
    print(
        f"  curl -s -X POST {stack.url('intake', '/reports')} -H 'Content-Type: application/json' \\\n"
        f"       -d '{json.dumps(body, ensure_ascii=False)}'"
    )
    print("Then read the grid worker's inbox:")
    print(f"  curl -s {stack.url('notification', f'/inbox/{worker}')}\n")
    print(f"Command-centre console: {stack.url('console')} — sign in with a staff token:")
    print("  .venv/bin/python -m gridlink.runtime.auth issue --user D0001 --role district_operator --unit 150302")
    print("A day of Haibowan activity in a minute: make demo (in another terminal)\n")
    print("Ctrl-C stops everything.", flush=True)
    while not stopping:
        for service, process in stack.processes.items():
            if process.poll() is not None:
                print(f"{service} exited with {process.returncode}; see {stack.log_dir}/{service}.log", file=sys.stderr)
                stopping = True
        time.sleep(0.5)
    print("stopping…", flush=True)
    stack.stop_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
