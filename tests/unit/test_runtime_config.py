"""Settings: defaults that work on a fresh machine, and clear errors for values a service cannot use."""

import pytest

from gridlink.runtime.config import REPO_ROOT, ConfigError, load_settings


def test_defaults_point_at_the_local_broker_and_a_sqlite_file_per_service():
    s = load_settings("dispatch", 8002, {})
    assert s.amqp_uri == "amqp://guest:guest@127.0.0.1:5672//"
    assert s.database_url == f"sqlite:///{REPO_ROOT / 'var' / 'dispatch.sqlite3'}"
    assert s.http_address == "127.0.0.1:8002"
    assert s.retry_delays == (1.0, 5.0, 30.0, 120.0, 600.0)
    assert s.data_dir == REPO_ROOT / "data" / "haibowan"
    assert s.relay_enabled is True
    # The hand-off publishes committed events at once; the poll only recovers a crashed process's rows.
    assert (s.relay_interval, s.relay_mark_delay) == (2.0, 0.0)


def test_the_environment_overrides_each_default():
    s = load_settings(
        "intake",
        8001,
        {
            "DATABASE_URL": "postgresql://db/intake",
            "AMQP_URI": "amqp://b//",
            "HTTP_PORT": "9000",
            "RETRY_DELAYS": "0.5, 2",
            "OUTBOX_RELAY_ENABLED": "false",
            "OUTBOX_RELAY_INTERVAL": "0.5",
            "OUTBOX_MARK_DELAY": "0.2",
        },
    )
    assert (s.database_url, s.amqp_uri, s.http_port) == ("postgresql://db/intake", "amqp://b//", 9000)
    assert s.retry_delays == (0.5, 2.0)
    assert s.relay_enabled is False
    assert (s.relay_interval, s.relay_mark_delay) == (0.5, 0.2)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HTTP_PORT": "eighty"}, "HTTP_PORT"),
        ({"HTTP_PORT": "-1"}, "negative"),
        ({"RETRY_DELAYS": "1,soon"}, "RETRY_DELAYS"),
        ({"RETRY_DELAYS": "0"}, "positive"),
        ({"OUTBOX_RELAY_ENABLED": "maybe"}, "boolean"),
        ({"OUTBOX_MARK_DELAY": "-0.1"}, "negative"),
        ({"EVENT_FLOW_LINGER": "-0.05"}, "negative"),
        ({"EVENT_FLOW_LINGER": "soon"}, "EVENT_FLOW_LINGER"),
        ({"RUNTIME_RETENTION_DAYS": "0.5"}, "at least 1"),
        ({"HOUSEKEEPING_INTERVAL": "0"}, "positive"),
    ],
)
def test_bad_values_are_refused_by_name(env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings("intake", 8001, env)


def test_the_database_pool_follows_the_workers_unless_set():
    assert load_settings("dispatch", 8002, {}).db_pool_size == 12  # 10 workers, the relay and the timer scanner
    assert load_settings("dispatch", 8002, {"MAX_WORKERS": "4"}).db_pool_size == 6
    assert load_settings("dispatch", 8002, {"MAX_WORKERS": "4", "DB_POOL_SIZE": "3"}).db_pool_size == 3


def test_pruning_is_on_for_30_days_by_default_and_0_days_keeps_everything():
    default = load_settings("intake", 8001, {})
    assert (default.retention_days, default.housekeeping_interval) == (30.0, 3600.0)
    assert load_settings("intake", 8001, {"RUNTIME_RETENTION_DAYS": "0"}).retention_days == 0.0


def test_batches_wait_briefly_while_events_flow_unless_switched_off():
    assert load_settings("dispatch", 8002, {}).event_flow_linger == 0.05
    assert load_settings("dispatch", 8002, {"EVENT_FLOW_LINGER": "0"}).event_flow_linger == 0.0
    assert load_settings("dispatch", 8002, {"EVENT_FLOW_LINGER": "0.02"}).event_flow_linger == 0.02
