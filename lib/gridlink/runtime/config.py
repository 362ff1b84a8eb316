"""Settings every service shares, read from environment variables with defaults that work on a fresh machine.

Each service's own `config` module calls `load_settings`; nothing else in a service reads the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gridlink.runtime.auth import DEFAULT_SECRET

REPO_ROOT = Path(__file__).resolve().parents[3]
# Local development only; production sets GRIDLINK_PII_KEY from a Kubernetes Secret.
DEFAULT_PII_KEY = "gridlink-local-development-personal-data-key"


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


@dataclass(frozen=True)
class Settings:
    service: str
    amqp_uri: str
    database_url: str
    http_host: str
    http_port: int
    data_dir: Path
    retry_delays: tuple[float, ...]
    relay_interval: float
    relay_batch: int
    relay_mark_delay: float
    max_workers: int
    log_level: str
    relay_enabled: bool
    timer_interval: float
    auth_secret: str
    pii_key: str
    db_pool_size: int
    db_max_overflow: int = 10
    event_batch: int = 20
    event_linger: float = 0.2
    event_flow_linger: float = 0.05
    retention_days: float = 30.0
    housekeeping_interval: float = 3600.0
    unheard_probe_seconds: float = 5.0
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def http_address(self) -> str:
        return f"{self.http_host}:{self.http_port}"

    def nameko_config(self) -> dict:
        return {
            "AMQP_URI": self.amqp_uri,
            "WEB_SERVER_ADDRESS": self.http_address,
            # Also each consumer's prefetch: nameko's queue consumer takes it from max_workers (and reads no
            # PREFETCH_COUNT, which earlier versions of this file set to no effect).
            "max_workers": self.max_workers,
            "serializer": "json",
            "GRIDLINK": self,
        }


def _number(env: Mapping[str, str], name: str, default: str, kind: type) -> int | float:
    raw = env.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a {kind.__name__}") from None
    if value < 0:
        raise ConfigError(f"{name}={raw!r} must not be negative")
    return value


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r} is not a boolean (true/false)")


def _delays(raw: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"RETRY_DELAYS={raw!r} is not a comma-separated list of seconds") from None
    if any(d <= 0 for d in delays):
        raise ConfigError("RETRY_DELAYS must all be positive")
    return delays


def _retention_days(env: Mapping[str, str]) -> float:
    """How long the runtime keeps the rows its guarantees needed once: published outbox rows, inbox rows and fired
    timers (see `gridlink.runtime.housekeeping`); 0 keeps them for ever. An inbox row must outlive its event's
    redeliveries (retries alone take 12.6 min by default), so less than a day is refused, not obeyed."""
    days = float(_number(env, "RUNTIME_RETENTION_DAYS", "30", float))
    if 0 < days < 1:
        raise ConfigError(f"RUNTIME_RETENTION_DAYS={days:g} must be 0 (keep for ever) or at least 1")
    return days


def _housekeeping_interval(env: Mapping[str, str]) -> float:
    seconds = float(_number(env, "HOUSEKEEPING_INTERVAL", "3600", float))
    if seconds <= 0:
        raise ConfigError("HOUSEKEEPING_INTERVAL must be positive: 0 would prune without pause")
    return seconds


def load_settings(service: str, default_port: int, env: Mapping[str, str] | None = None) -> Settings:
    """Read the shared settings for `service`. `DATABASE_URL` defaults to the service's own SQLite file under var/."""
    env = os.environ if env is None else env
    var_dir = Path(env.get("GRIDLINK_VAR_DIR", REPO_ROOT / "var"))
    max_workers = int(_number(env, "MAX_WORKERS", "10", int))
    default_db = f"sqlite:///{var_dir / f'{service}.sqlite3'}"
    return Settings(
        service=service,
        amqp_uri=env.get("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672//"),
        database_url=env.get("DATABASE_URL", default_db),
        http_host=env.get("HTTP_HOST", "127.0.0.1"),
        http_port=int(_number(env, "HTTP_PORT", str(default_port), int)),
        data_dir=Path(env.get("GRIDLINK_DATA_DIR", REPO_ROOT / "data" / "haibowan")),
        retry_delays=_delays(env.get("RETRY_DELAYS", "1,5,30,120,600")),
        # Committed events reach the relay through the in-process hand-off at once; the poll only finds rows whose
        # process died between commit and publish (they wait out a 10 s lease first anyway), so polling every 2 s
        # rather than every 0.5 s costs them little and spares every idle process three queries a second.
        relay_interval=float(_number(env, "OUTBOX_RELAY_INTERVAL", "2.0", float)),
        relay_batch=int(_number(env, "OUTBOX_RELAY_BATCH", "200", int)),
        # 0: published rows are marked at once, so `published_at` is set moments after the broker confirmed. A
        # fraction of a second lets one transaction mark several commits' rows (about 0.7 fewer transactions per
        # report in intake and dispatch at 12 reports/s, with 0.2), at the cost of marks lagging by up to that.
        relay_mark_delay=float(_number(env, "OUTBOX_MARK_DELAY", "0", float)),
        # Types published only for whoever binds them are not written while none is bound, and probed again this
        # often (runtime/audience.py); 0 writes and publishes every one.
        unheard_probe_seconds=float(_number(env, "EVENTS_UNHEARD_PROBE_SECONDS", "5", float)),
        max_workers=max_workers,
        log_level=env.get("LOG_LEVEL", "INFO").upper(),
        relay_enabled=_flag(env, "OUTBOX_RELAY_ENABLED", True),
        timer_interval=float(_number(env, "TIMER_INTERVAL", "1.0", float)),
        auth_secret=env.get("GRIDLINK_AUTH_SECRET", DEFAULT_SECRET),
        pii_key=env.get("GRIDLINK_PII_KEY", DEFAULT_PII_KEY),
        # As many pooled connections as a process can use at once (its workers, the relay and the timer scanner):
        # with fewer, every busy moment opened and closed connections above the pool, and each new PostgreSQL
        # backend cost more CPU than the statements it ran (4 ms of the server's CPU per report at 30 reports/s).
        db_pool_size=int(_number(env, "DB_POOL_SIZE", str(max_workers + 2), int)),
        # Connections opened above the pool for a burst, each closed when returned. Kubernetes sets both so that
        # every pod at its HPA maximum stays within PostgreSQL's max_connections.
        db_max_overflow=int(_number(env, "DB_MAX_OVERFLOW", "10", int)),
        # The most events a batching consumer handles in one transaction (only those already waiting; 1: one at a
        # time). A batch cannot exceed the unacked messages the broker lets a consumer hold (max_workers).
        event_batch=max(1, int(_number(env, "EVENT_BATCH", "20", int))),
        # How long a lingering consumer's batch waits for more events (seconds): well inside the console's live
        # board refresh (0.5 s), and long enough to gather a report's messages.
        event_linger=max(0.0, float(_number(env, "EVENT_LINGER", "0.2", float))),
        # How long any other batching consumer's batch waits for more while events flow (the previous one arrived
        # within this time): in a burst each hop then takes several events in one transaction, at a cost of this
        # much latency per hop; a lone event is not delayed. 0: only what arrived together is batched.
        event_flow_linger=float(_number(env, "EVENT_FLOW_LINGER", "0.05", float)),
        retention_days=_retention_days(env),
        housekeeping_interval=_housekeeping_interval(env),
        extra={k: v for k, v in env.items() if k.startswith(service.upper() + "_")},
    )
