"""The benchmark's own broker vhost and PostgreSQL databases: made at the start of a run, dropped at its end.

The vhost comes from RabbitMQ's management API (127.0.0.1:15672), the databases from the local PostgreSQL, so a run
never touches a `make run`, the test suite, or another engineer's work on the same machine.
"""

from __future__ import annotations

import os
import uuid
from urllib.parse import quote, urlparse

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

DEFAULT_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


class Resources:
    """Creates vhosts and databases named after the run, and removes every one of them on `cleanup()`."""

    def __init__(self, amqp: str | None = None, postgres: str | None = None, management_port: int = 15672):
        self.run_id = uuid.uuid4().hex[:8]
        self.amqp = amqp or os.environ.get("BENCH_AMQP_URI", DEFAULT_AMQP)
        self.postgres = postgres or os.environ.get("BENCH_DATABASE_URL", DEFAULT_POSTGRES)
        parsed = urlparse(self.amqp)
        self._auth = (parsed.username or "guest", parsed.password or "guest")
        self._api = f"http://{parsed.hostname or '127.0.0.1'}:{management_port}/api"
        self._host = f"{parsed.hostname or '127.0.0.1'}:{parsed.port or 5672}"
        self.vhosts: list[str] = []
        self.databases: list[str] = []

    def vhost(self, label: str) -> str:
        """A fresh vhost; returns its AMQP URI."""
        name = self._vhost_name(label)
        requests.put(f"{self._api}/vhosts/{quote(name, safe='')}", auth=self._auth, timeout=10).raise_for_status()
        requests.put(
            f"{self._api}/permissions/{quote(name, safe='')}/{self._auth[0]}",
            json={"configure": ".*", "write": ".*", "read": ".*"},
            auth=self._auth,
            timeout=10,
        ).raise_for_status()
        self.vhosts.append(name)
        return f"amqp://{self._auth[0]}:{self._auth[1]}@{self._host}/{quote(name, safe='')}"

    def queued_messages(self, label: str) -> int:
        """Messages ready or unacknowledged in all the queues of the vhost made for `label`."""
        name = quote(self._vhost_name(label), safe="")
        response = requests.get(
            f"{self._api}/queues/{name}", auth=self._auth, params={"columns": "name,messages"}, timeout=10
        )
        response.raise_for_status()
        return sum(int(queue.get("messages") or 0) for queue in response.json())

    def _vhost_name(self, label: str) -> str:
        return f"gridlink-bench-{self.run_id}-{label}"

    def database(self, label: str) -> str:
        """A fresh, empty PostgreSQL database; returns its URL."""
        name = f"bench_{self.run_id}_{label}"
        admin = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        admin.dispose()
        self.databases.append(name)
        return make_url(self.postgres).set(database=name).render_as_string(hide_password=False)

    def cleanup(self) -> list[str]:
        """Drop everything this run made; returns what could not be dropped (reported, never raised)."""
        left = []
        for name in self.vhosts:
            try:
                requests.delete(f"{self._api}/vhosts/{quote(name, safe='')}", auth=self._auth, timeout=10)
            except requests.RequestException:
                left.append(f"vhost {name}")
        admin = create_engine(self.postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            for name in self.databases:
                try:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                except Exception:  # a straggling connection must not stop the rest from being dropped
                    left.append(f"database {name}")
        admin.dispose()
        self.vhosts.clear()
        self.databases.clear()
        return left
