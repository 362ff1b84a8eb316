"""`make run` and the benchmark give notification a real SMTP server: a mail sent to it lands in the Maildir."""

import smtplib

from bench.stacks import free_ports
from gridlink.devstack import Stack
from tests.polling import wait_for


def _connect(port: int) -> smtplib.SMTP | None:
    try:
        return smtplib.SMTP("127.0.0.1", port, timeout=5)
    except OSError:
        return None


def test_mail_sink_keeps_each_message_and_points_notification_at_itself(tmp_path):
    stack = Stack(log_dir=tmp_path / "log")
    port = free_ports(1)[0]
    stack.start_mail_sink(port, tmp_path / "mail")
    try:
        assert stack.service_env("notification")["NOTIFICATION_SMTP_PORT"] == str(port)
        assert "NOTIFICATION_SMTP_PORT" not in stack.service_env("intake")
        with wait_for(lambda: _connect(port), timeout=30, what="the mail sink to answer") as client:
            client.sendmail("noreply@gridlink.local", ["worker@haibowan.example"], "Subject: case\r\n\r\nassigned")
        delivered = list((tmp_path / "mail" / "new").iterdir())
        assert len(delivered) == 1
        assert "worker@haibowan.example" in delivered[0].read_text()
    finally:
        stack.stop_all()
