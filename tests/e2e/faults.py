"""Faults to inject into a running stack, a steady load of reports, and the reconciliation that counts what
arrived: shared by the fast fault test (`make test`) and the long run (`make chaos`)."""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import unquote, urlparse

import requests
from sqlalchemy import create_engine, text

from gridlink.devstack import SERVICES, Stack
from gridlink.refdata import load_categories, load_grid_map
from gridlink.runtime import dlq

GRIDS = load_grid_map()
CATEGORIES = [c.code for c in load_categories().values()]


@dataclass
class Load:
    """Posts reports at a steady rate from a background thread; remembers which ones intake accepted."""

    stack: Stack
    rate: float
    accepted: list[str] = field(default_factory=list)
    answers: Counter = field(default_factory=Counter)  # HTTP status (or "no answer") -> requests
    refused: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def _body(self, rng: random.Random) -> dict:
        grid = GRIDS.grids[rng.choice(sorted(GRIDS.grids))]
        lat, long = grid.centroid
        return {
            "category": rng.choice(CATEGORIES),
            "description": f"故障演练 {rng.randrange(10**6)}",
            "lat": lat,
            "long": long,
            "reporter": {"name": "测试居民", "phone": "13800138000"},
        }

    def _run(self) -> None:
        rng = random.Random(7)
        interval = 1.0 / self.rate
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                r = requests.post(self.stack.url("intake", "/reports"), json=self._body(rng), timeout=5)
                self.answers[r.status_code] += 1
                if r.status_code == 201:
                    self.accepted.append(r.json()["tracking_code"])
                else:
                    self.refused += 1
            except requests.RequestException:
                self.answers["no answer"] += 1
                self.refused += 1  # intake is down: the resident's app would retry; it was never accepted
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def __enter__(self) -> Load:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def _vhost(amqp_uri: str) -> tuple[str, str, str, str]:
    parsed = urlparse(amqp_uri)
    return parsed.hostname, parsed.username, parsed.password, unquote(parsed.path.lstrip("/"))


def drop_broker_connections(amqp_uri: str) -> int:
    """Closes every connection to this stack's vhost, as a broker restart would, without touching other vhosts."""
    host, user, password, vhost = _vhost(amqp_uri)
    api = f"http://{host}:15672/api"
    quoted = requests.utils.quote(vhost, safe="")
    connections = requests.get(f"{api}/vhosts/{quoted}/connections", auth=(user, password), timeout=10)
    names = [c["name"] for c in connections.json()]
    for name in names:
        requests.delete(f"{api}/connections/{requests.utils.quote(name, safe='')}", auth=(user, password))
    return len(names)


def drop_database_connections(stack: Stack) -> int:
    """Terminates every server connection to this stack's databases, as a PostgreSQL restart would."""
    names = [urlparse(url).path.lstrip("/") for url in stack.database_urls.values()]
    admin = create_engine(stack.database_urls["intake"].rsplit("/", 1)[0] + "/postgres")
    with admin.connect() as conn:
        dropped = conn.execute(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = ANY(:names) AND pid <> pg_backend_pid()"
            ),
            {"names": names},
        ).scalar_one()
    admin.dispose()
    return dropped


def restart_broker() -> None:
    subprocess.run(["rabbitmqctl", "stop_app"], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "start_app"], check=True, capture_output=True)


def restart_postgres() -> None:
    version = subprocess.run(["ls", "/etc/postgresql"], capture_output=True, text=True).stdout.split()[0]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True)


def kill_and_restart(stack: Stack, service: str, down_seconds: float = 1.0) -> None:
    stack.kill(service)  # SIGKILL mid-flow
    time.sleep(down_seconds)
    stack.start(service)
    stack.wait_ready([service], timeout=180)


@dataclass
class Tally:
    sent: int
    accepted: int
    cases: int
    assignments: int
    notifications: int
    duplicates: int
    lost: int
    outbox_pending: int
    dead_letters: int
    dead_letters_without_reason: int
    sent_twice: int  # messages with more than one successful delivery attempt recorded

    def line(self, fault: str) -> str:
        return (
            f"{fault:<28} sent {self.sent:>4}  accepted {self.accepted:>4}  cases {self.cases:>4}  "
            f"assignments {self.assignments:>4}  notifications {self.notifications:>4}  duplicates {self.duplicates}  "
            f"lost {self.lost}  outbox pending {self.outbox_pending}  dead letters {self.dead_letters}  "
            f"sent twice {self.sent_twice}"
        )


def _scalar_rows(url: str, sql: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def reconcile(stack: Stack, amqp_uri: str, load: Load) -> Tally:
    codes = set(load.accepted)
    case_rows = _scalar_rows(stack.database_urls["dispatch"], "SELECT tracking_code, case_id FROM cases")
    cases_by_code: dict[str, int] = {}
    for code, _ in case_rows:
        cases_by_code[code] = cases_by_code.get(code, 0) + 1
    assigned = _scalar_rows(
        stack.database_urls["dispatch"],
        "SELECT c.tracking_code FROM case_history h JOIN cases c ON c.case_id = h.case_id WHERE h.action = 'assign'",
    )
    assignments: dict[str, int] = {}
    for (code,) in assigned:
        assignments[code] = assignments.get(code, 0) + 1
    bodies = _scalar_rows(
        stack.database_urls["notification"],
        "SELECT body FROM messages WHERE template_code = 'case_assigned' AND channel = 'inbox'",
    )
    notified: dict[str, int] = {}
    for (body,) in bodies:
        for code in codes:
            if code in body:
                notified[code] = notified.get(code, 0) + 1
    pending = sum(
        _scalar_rows(stack.database_urls[s], "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0]
        for s in SERVICES
    )
    letters = dlq.list_letters(amqp_uri)
    sent_twice = _scalar_rows(
        stack.database_urls["notification"],
        "SELECT count(*) FROM (SELECT message_id FROM delivery_attempts WHERE outcome IN ('sent', 'delivered')"
        " GROUP BY message_id HAVING count(*) > 1) AS twice",
    )[0][0]
    duplicates = sum(max(0, n - 1) for d in (cases_by_code, assignments, notified) for n in d.values())
    lost = sum(1 for code in codes if not (cases_by_code.get(code) and assignments.get(code) and notified.get(code)))
    return Tally(
        sent=len(load.accepted) + load.refused,
        accepted=len(codes),
        cases=sum(cases_by_code.get(c, 0) for c in codes),
        assignments=sum(assignments.get(c, 0) for c in codes),
        notifications=sum(notified.get(c, 0) for c in codes),
        duplicates=duplicates,
        lost=lost,
        outbox_pending=pending,
        dead_letters=len(letters),
        dead_letters_without_reason=sum(1 for x in letters if not (x.reason and x.error)),
        sent_twice=sent_twice,
    )


def settle(stack: Stack, amqp_uri: str, load: Load, timeout: float = 120.0) -> Tally:
    """Waits until every accepted report is accounted for (or the time is up), then returns the final count."""
    deadline = time.monotonic() + timeout
    tally = reconcile(stack, amqp_uri, load)
    while time.monotonic() < deadline and (tally.lost or tally.outbox_pending):
        time.sleep(1.0)
        tally = reconcile(stack, amqp_uri, load)
    return tally
