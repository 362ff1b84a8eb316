"""The bench's cost of the shared servers per step: PostgreSQL backends that come and go in a step count too."""

from bench.driver import REAPED, server_cpu_seconds, server_cpu_used


def test_backends_alive_throughout_started_during_and_exited_during_a_step_all_count():
    before = {
        10: ("postgresql", 5.0),  # alive throughout: 5 → 7
        11: ("postgresql", 1.0),  # exits during the step, having used 1.5 in all
        20: ("rabbitmq", 30.0),
        REAPED: ("postgresql", 100.0),
    }
    after = {
        10: ("postgresql", 7.0),
        12: ("postgresql", 0.25),  # started during the step
        20: ("rabbitmq", 31.5),
        REAPED: ("postgresql", 100.0 + 1.5 + 0.75),  # 11, and another that came and went (0.75)
    }
    used = server_cpu_used(before, after)
    assert used == {"postgresql": 2.0 + 0.5 + 0.25 + 0.75, "rabbitmq": 1.5}


def test_a_reading_of_the_running_servers_has_the_postmasters_reaped_children():
    reading = server_cpu_seconds()
    # The suite runs against a local PostgreSQL (CI starts it): its postmaster is found and its backends listed.
    assert reading[REAPED][0] == "postgresql"
    assert any(server == "postgresql" for pid, (server, _) in reading.items() if pid != REAPED)
