"""The console's calls to other services' staff APIs keep their connections open and reuse them, and survive the
other service closing them, against a real HTTP/1.1 server."""

from __future__ import annotations

import json
import threading
import time
from http.server import ThreadingHTTPServer

import pytest

from console.adapters.dispatch import DispatchClient
from console.adapters.notification import NotificationClient
from tests.http_double import JsonHandler


class _Handler(JsonHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as nameko's web server answers

    def setup(self):
        super().setup()
        self.server.connections += 1

    def do_GET(self):
        self.server.seen.append(("GET", self.path, self.headers["Authorization"]))
        time.sleep(self.server.delay)  # a notification that hangs
        if self.server.refuse:
            self.answer_json(403, {"error": {"code": "forbidden", "description": "not your case"}})
            return
        self.answer_json(200, {"messages": []})
        # Closed without saying so (no `Connection: close`), as a restarting service's end of a kept connection is.
        self.close_connection = self.server.drop_after_answer

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        self.server.seen.append(("POST", self.path, json.loads(self.rfile.read(length))))
        self.answer_json(200, {"case_id": "c1", "status": "escalated"})


@pytest.fixture
def service():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.connections, server.seen, server.drop_after_answer = 0, [], False
    server.delay, server.refuse = 0.0, False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_calls_reuse_one_kept_connection(service):
    base = f"http://127.0.0.1:{service.server_address[1]}"
    notification, dispatch = NotificationClient(base), DispatchClient(base)

    for _ in range(3):
        assert notification.case_messages("HB-1", "tok").unavailable is None
    answer = dispatch.act("c1", "escalate", "beyond the grid", "tok")

    assert answer.status == 200 and answer.body["status"] == "escalated"
    assert service.seen[0] == ("GET", "/cases/HB-1/messages", "Bearer tok")
    assert service.seen[-1] == ("POST", "/cases/c1/escalate", {"reason": "beyond the grid"})
    assert service.connections == 2  # one per client, however many calls


def test_a_connection_the_service_closed_is_opened_again(service):
    base = f"http://127.0.0.1:{service.server_address[1]}"
    notification = NotificationClient(base)
    service.drop_after_answer = True
    assert notification.case_messages("HB-1", "tok").unavailable is None
    service.drop_after_answer = False

    assert notification.case_messages("HB-2", "tok").unavailable is None
    assert notification.case_messages("HB-3", "tok").unavailable is None
    assert service.connections == 2  # the closed one replaced once, then kept


def test_after_notification_did_not_answer_it_is_not_asked_again_for_a_while(service):
    base = f"http://127.0.0.1:{service.server_address[1]}"
    now = [100.0]
    notification = NotificationClient(base, timeout=0.3, rest=10.0, clock=lambda: now[0])
    service.delay = 1.0

    first = notification.case_messages("HB-1", "tok")
    assert first.unavailable.startswith("notification did not answer")
    now[0] += 5
    second = notification.case_messages("HB-2", "tok")  # no worker waits on a notification known to be silent

    assert second.unavailable.startswith("notification did not answer a moment ago")
    assert second.unavailable.endswith("not asked")
    assert [path for _, path, _ in service.seen] == ["/cases/HB-1/messages"]
    service.delay, now[0] = 0.0, now[0] + 6  # the rest is over, and notification answers again
    assert notification.case_messages("HB-3", "tok").unavailable is None
    assert len(service.seen) == 2


def test_a_refusal_is_an_answer_and_does_not_silence_notification(service):
    base = f"http://127.0.0.1:{service.server_address[1]}"
    notification = NotificationClient(base, rest=60.0)
    service.refuse = True
    assert "does not show you" in notification.case_messages("HB-1", "tok").unavailable
    service.refuse = False
    assert notification.case_messages("HB-2", "tok").unavailable is None
    assert len(service.seen) == 2
