"""Each provider adapter against a real local HTTP test double (SMS ×2, WeChat, WeCom, push, signed webhook), and
email through a real SMTP server (aiosmtpd) that the test starts. The double is shared with the delivery tests."""

from __future__ import annotations

import json
import mailbox
import smtplib
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.utils import parsedate_to_datetime
from http.server import ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import pytest
from prometheus_client import REGISTRY

from gridlink.contracts.events.notification import (
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    WebhookSignatureError,
    verify_webhook,
)
from gridlink.runtime.config import ConfigError
from notification.adapters.providers import Outgoing, ProviderError, build_providers
from notification.adapters.signing import aliyun_v3_headers, tencent_tc3_headers
from notification.config import parse_channel_config
from tests.http_double import JsonHandler
from tests.polling import wait_for

WEBHOOK_SECRET = "partner-shared-secret"


class ProviderDouble:
    """A real HTTP server on 127.0.0.1 that answers like the providers' APIs and records every request.

    `fail[path] = n` makes the next n requests to that path answer 503 (-1: always).
    """

    def __init__(self):
        self.requests: list[dict] = []
        self.fail: dict[str, int] = {}
        self._lock = threading.Lock()
        double = self

        class Handler(JsonHandler):
            def do_GET(self):
                self._answer()

            def do_POST(self):
                self._answer()

            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                self.answer_json(*double.route(self.command, self.path, dict(self.headers), body))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method: str, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        route = path.split("?")[0]
        with self._lock:
            n = len(self.requests) + 1
            self.requests.append({"method": method, "path": route, "query": path, "headers": headers, "body": body})
            remaining = self.fail.get(route, 0)
            if remaining:
                self.fail[route] = remaining - 1 if remaining > 0 else -1
                return 503, {"error": "deliberately unavailable"}
        if route == "/aliyun":
            refused = _aliyun_refusal(path, headers, body)
            if refused:
                return 400, {"Code": refused, "Message": "Specified signature does not match our calculation."}
            return 200, {"Code": "OK", "BizId": f"biz-{n}", "RequestId": str(n)}
        if route == "/tencent":
            refused = _tencent_refusal(headers, body)
            if refused:
                return 200, {"Response": {"Error": {"Code": refused, "Message": "signature mismatch"}}}
            return 200, {"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": f"sn-{n}"}]}}
        if route == "/wechat/cgi-bin/token":
            return 200, {"access_token": "token-1", "expires_in": 7200}
        if route == "/wechat/cgi-bin/message/template/send":
            return 200, {"errcode": 0, "errmsg": "ok", "msgid": 1000 + n}
        if route == "/wecom":
            return 200, {"errcode": 0, "errmsg": "ok"}
        if route == "/push":
            return 200, {"sendno": "0", "msg_id": f"push-{n}"}
        if route == "/partner":
            try:
                verify_webhook(
                    WEBHOOK_SECRET,
                    body,
                    headers.get(WEBHOOK_TIMESTAMP_HEADER),
                    headers.get(WEBHOOK_SIGNATURE_HEADER),
                    now=time.time(),
                )
            except WebhookSignatureError as exc:
                return 401, {"error": str(exc)}
            return 200, {"received": True}
        return 404, {"error": f"no route {route}"}

    def calls(self, path: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path]

    def json_of(self, path: str) -> list[dict]:
        return [json.loads(r["body"]) for r in self.calls(path)]

    def params_of(self, path: str) -> list[dict]:
        """The query parameters of each call (Aliyun's RPC-style actions carry theirs there)."""
        return [dict(parse_qsl(urlsplit(r["query"]).query, keep_blank_values=True)) for r in self.calls(path)]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# The double checks signatures as the vendors do: it signs what it received with the secret it knows (the one
# channel_env configures) and refuses a request whose Authorization differs, or whose time is too far off. That
# the signing itself follows each vendor's algorithm is shown against their published examples
# (tests/unit/test_notification_signing.py).
ALIYUN_SECRET, TENCENT_SECRET = "aks", "skey"


def _lowered(headers: dict) -> dict:
    return {k.lower(): v for k, v in headers.items()}


def _aliyun_refusal(path: str, headers: dict, body: bytes) -> str | None:
    h = _lowered(headers)
    try:
        sent_at = datetime.strptime(h["x-acs-date"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        expected = aliyun_v3_headers(
            access_key_id=h["authorization"].split("Credential=")[1].split(",")[0],
            access_key_secret=ALIYUN_SECRET,
            host=h["host"],
            action=h["x-acs-action"],
            version=h["x-acs-version"],
            query=dict(parse_qsl(urlsplit(path).query, keep_blank_values=True)),
            body=body,
            now=sent_at,
            nonce=h["x-acs-signature-nonce"],
            path=urlsplit(path).path,
        )
    except (KeyError, IndexError, ValueError):
        return "IncompleteSignature"
    if abs(time.time() - sent_at.timestamp()) > 15 * 60:
        return "SignatureExpired"
    return None if h["authorization"] == expected["Authorization"] else "SignatureDoesNotMatch"


def _tencent_refusal(headers: dict, body: bytes) -> str | None:
    h = _lowered(headers)
    try:
        stamp = int(h["x-tc-timestamp"])
        expected = tencent_tc3_headers(
            secret_id=h["authorization"].split("Credential=")[1].split("/")[0],
            secret_key=TENCENT_SECRET,
            host=h["host"],
            service="sms",
            action=h["x-tc-action"],
            version=h["x-tc-version"],
            region=h["x-tc-region"],
            body=body,
            timestamp=stamp,
        )
    except (KeyError, IndexError, ValueError):
        return "AuthFailure.SignatureFailure"
    if h["content-type"] != expected["Content-Type"] or abs(time.time() - stamp) > 5 * 60:
        return "AuthFailure.SignatureExpire"
    return None if h["authorization"] == expected["Authorization"] else "AuthFailure.SignatureFailure"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def channel_env(double: ProviderDouble, smtp_port: int, file_path, channels: str | None = None) -> dict[str, str]:
    """Every channel switched on, each provider pointed at the double (and email at `smtp_port`)."""
    return {
        "NOTIFICATION_CHANNELS": channels or "inbox,sms,wechat,wecom,push,email,webhook,file",
        "NOTIFICATION_SMS_ALIYUN_URL": f"{double.url}/aliyun",
        "NOTIFICATION_SMS_ALIYUN_ACCESS_KEY_ID": "ak",
        "NOTIFICATION_SMS_ALIYUN_ACCESS_KEY_SECRET": ALIYUN_SECRET,
        "NOTIFICATION_SMS_TENCENT_URL": f"{double.url}/tencent",
        "NOTIFICATION_SMS_TENCENT_SECRET_ID": "sid",
        "NOTIFICATION_SMS_TENCENT_SECRET_KEY": TENCENT_SECRET,
        "NOTIFICATION_SMS_TENCENT_APP_ID": "1400000000",
        "NOTIFICATION_WECHAT_URL": f"{double.url}/wechat",
        "NOTIFICATION_WECHAT_APP_ID": "wx-app",
        "NOTIFICATION_WECHAT_APP_SECRET": "wx-secret",
        "NOTIFICATION_WECHAT_TEMPLATE_ID": "tmpl-1",
        "NOTIFICATION_WECOM_WEBHOOK_URL": f"{double.url}/wecom",
        "NOTIFICATION_PUSH_URL": f"{double.url}/push",
        "NOTIFICATION_PUSH_APP_KEY": "pk",
        "NOTIFICATION_PUSH_MASTER_SECRET": "pms",
        "NOTIFICATION_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "NOTIFICATION_SMTP_PORT": str(smtp_port),
        "NOTIFICATION_FILE_PATH": str(file_path),
        "NOTIFICATION_HTTP_TIMEOUT": "5",
    }


MAILDIR_HANDLER = ("aiosmtpd.handlers.Mailbox",)


class SmtpServer:
    """A real SMTP server (aiosmtpd, in its own process) that files every message it accepts in a Maildir."""

    def __init__(self, folder):
        self.port = free_port()
        self.maildir = folder
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                *MAILDIR_HANDLER,
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._listening, timeout=30, what="the SMTP server to listen")

    def _listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def messages(self) -> list:
        return list(mailbox.Maildir(self.maildir, create=False)) if self.maildir.exists() else []

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def double():
    d = ProviderDouble()
    yield d
    d.close()


@pytest.fixture
def smtp_server(tmp_path):
    server = SmtpServer(tmp_path / "maildir")
    yield server
    server.stop()


def outgoing(channel: str, address: str, body: str = "【网格通】测试消息") -> Outgoing:
    return Outgoing("m-1", "S0100", channel, "case_assigned", "新案件待办", body, address, "r-1")


def providers(double, tmp_path, smtp_port=None, **overrides):
    env = channel_env(double, smtp_port or free_port(), tmp_path / "out.jsonl")
    return build_providers(parse_channel_config({**env, **overrides}))


def test_email_goes_through_a_real_smtp_server(double, smtp_server, tmp_path):
    [email] = providers(double, tmp_path, smtp_server.port).for_channel("email")
    accepted = email.send(outgoing("email", "s0100@grid.haibowan.example", "您有新的网格案件 HB-1"))
    assert accepted.provider == "email" and accepted.delivered is False  # accepted by SMTP, not yet read
    [received] = wait_for(smtp_server.messages, what="the email in the Maildir")
    assert received["To"] == "s0100@grid.haibowan.example"
    assert str(make_header(decode_header(received["Subject"]))) == "新案件待办"
    assert received["Message-ID"] == "<m-1@gridlink>"
    assert parsedate_to_datetime(received["Date"]).tzinfo is not None  # RFC 5322 requires it; smtplib adds none
    assert "您有新的网格案件 HB-1" in received.get_payload(decode=True).decode("utf-8")


def test_email_keeps_one_connection_open_and_replaces_one_the_server_closed(double, smtp_server, tmp_path, monkeypatch):
    opened = []

    class Counted(smtplib.SMTP):
        def connect(self, *args, **kwargs):
            opened.append(args)
            return super().connect(*args, **kwargs)

    monkeypatch.setattr(smtplib, "SMTP", Counted)
    [email] = providers(double, tmp_path, smtp_server.port).for_channel("email")
    for n in range(3):
        email.send(outgoing("email", f"w{n}@grid.haibowan.example", f"第{n}条"))
    assert len(opened) == 1
    email._idle[0][0].sock.shutdown(socket.SHUT_RDWR)  # as if the server had hung up while the connection idled
    email.send(outgoing("email", "w3@grid.haibowan.example", "第3条"))
    assert len(opened) == 2
    received = wait_for(lambda: len(smtp_server.messages()) == 4 and smtp_server.messages(), what="four emails")
    assert sorted(m["To"] for m in received) == [f"w{n}@grid.haibowan.example" for n in range(4)]


def test_email_does_not_reuse_a_connection_idle_longer_than_it_keeps_one_open(double, smtp_server, tmp_path):
    [email] = providers(double, tmp_path, smtp_server.port).for_channel("email")
    now = [0.0]
    email.clock = lambda: now[0]
    email.send(outgoing("email", "a@grid.haibowan.example"))
    [(first, _)] = email._idle
    now[0] = email.keep_open + 1
    email.send(outgoing("email", "b@grid.haibowan.example"))
    [(second, _)] = email._idle
    assert second is not first and first.sock is None  # the stale one was closed
    wait_for(lambda: len(smtp_server.messages()) == 2, what="both emails")


def smtp_connections_opened() -> float:
    return REGISTRY.get_sample_value("gridlink_notification_smtp_connections_total") or 0.0


def test_concurrent_emails_share_a_bounded_pool_of_connections(double, smtp_server, tmp_path):
    [email] = providers(double, tmp_path, smtp_server.port, NOTIFICATION_SMTP_CONNECTIONS="2").for_channel("email")
    before = smtp_connections_opened()

    def burst(first: int) -> None:  # as a group of delivery passes sends: all at once, each on its own thread
        threads = [
            threading.Thread(target=email.send, args=(outgoing("email", f"w{n}@grid.haibowan.example"),))
            for n in range(first, first + 8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    burst(0)
    assert smtp_connections_opened() - before <= 2  # eight sends at once, never more than two connections
    assert len(email._idle) == smtp_connections_opened() - before  # every one kept for the next burst
    burst(8)
    assert smtp_connections_opened() - before <= 2  # the second burst reused them
    received = wait_for(lambda: len(smtp_server.messages()) == 16 and smtp_server.messages(), what="sixteen emails")
    assert sorted(m["To"] for m in received) == sorted(f"w{n}@grid.haibowan.example" for n in range(16))


def test_an_email_waits_for_a_busy_pool_only_as_long_as_the_timeout(double, smtp_server, tmp_path):
    built = providers(
        double, tmp_path, smtp_server.port, NOTIFICATION_SMTP_CONNECTIONS="1", NOTIFICATION_HTTP_TIMEOUT="0.3"
    )
    [email] = built.for_channel("email")
    email._slots.acquire()  # the only connection is busy with another message
    started = time.monotonic()
    with pytest.raises(ProviderError, match="all 1 connections busy"):
        email.send(outgoing("email", "a@grid.haibowan.example"))
    assert 0.25 <= time.monotonic() - started < 5
    email._slots.release()
    assert email.send(outgoing("email", "a@grid.haibowan.example")).provider == "email"  # free again: it goes
    wait_for(lambda: len(smtp_server.messages()) == 1, what="the email")


@pytest.mark.parametrize("value", ["0", "-1", "four", "2.5"])
def test_a_pool_of_no_smtp_connections_is_refused_at_start(double, tmp_path, value):
    with pytest.raises(ConfigError, match="NOTIFICATION_SMTP_CONNECTIONS"):
        providers(double, tmp_path, NOTIFICATION_SMTP_CONNECTIONS=value)


def test_email_refuses_a_header_value_that_could_inject_headers(double, tmp_path):
    [email] = providers(double, tmp_path, free_port()).for_channel("email")
    with pytest.raises(ProviderError, match="header"):
        email.send(outgoing("email", "a@b.example\r\nBcc: everyone@b.example"))


def test_email_with_nothing_listening_is_a_provider_error_not_a_crash(double, tmp_path):
    [email] = providers(double, tmp_path, free_port()).for_channel("email")
    with pytest.raises(ProviderError, match=r"email: 127\.0\.0\.1"):
        email.send(outgoing("email", "a@b.example"))


def test_both_sms_providers_speak_their_own_api(double, tmp_path):
    aliyun, tencent = providers(double, tmp_path).for_channel("sms")
    assert aliyun.send(outgoing("sms", "13900000000")).provider_message_id == "biz-1"
    assert tencent.send(outgoing("sms", "13900000000")).provider_message_id == "sn-2"
    [a] = double.params_of("/aliyun")  # signed and accepted by the double, which checks as Aliyun does
    assert a["PhoneNumbers"] == "13900000000" and a["OutId"] == "m-1" and a["SignName"] == "网格通"
    assert json.loads(a["TemplateParam"]) == {"content": "【网格通】测试消息"}
    [call] = double.calls("/aliyun")
    assert call["method"] == "POST" and call["body"] == b"" and call["headers"]["x-acs-action"] == "SendSms"
    assert call["headers"]["Authorization"].startswith("ACS3-HMAC-SHA256 Credential=ak,SignedHeaders=host;")
    [t] = double.json_of("/tencent")
    assert t["PhoneNumberSet"] == ["+8613900000000"] and t["SessionContext"] == "m-1"
    assert double.calls("/tencent")[0]["headers"]["X-TC-Version"] == "2021-01-11"
    double.fail["/aliyun"] = 1
    with pytest.raises(ProviderError, match="HTTP 503"):
        aliyun.send(outgoing("sms", "13900000000"))


def test_an_sms_request_signed_with_the_wrong_secret_is_refused_by_the_vendor(double, tmp_path):
    env = {
        **channel_env(double, free_port(), tmp_path / "out.jsonl", "inbox,sms"),
        "NOTIFICATION_SMS_ALIYUN_ACCESS_KEY_SECRET": "a-leaked-and-rotated-secret",
        "NOTIFICATION_SMS_TENCENT_SECRET_KEY": "a-leaked-and-rotated-secret",
    }
    aliyun, tencent = build_providers(parse_channel_config(env)).for_channel("sms")
    with pytest.raises(ProviderError, match="SignatureDoesNotMatch"):
        aliyun.send(outgoing("sms", "13900000000"))
    with pytest.raises(ProviderError, match=r"AuthFailure\.SignatureFailure"):
        tencent.send(outgoing("sms", "13900000000"))


def test_wechat_template_message_fetches_and_reuses_its_token(double, tmp_path):
    [wechat] = providers(double, tmp_path).for_channel("wechat")
    wechat.send(outgoing("wechat", "openid-1"))
    wechat.send(outgoing("wechat", "openid-1"))
    assert len(double.calls("/wechat/cgi-bin/token")) == 1
    sends = double.calls("/wechat/cgi-bin/message/template/send")
    assert len(sends) == 2 and "access_token=token-1" in sends[0]["query"]
    body = json.loads(sends[0]["body"])
    assert body["touser"] == "openid-1" and body["template_id"] == "tmpl-1"
    assert body["data"] == {  # the default: a template of the older layout
        "first": {"value": "新案件待办"},
        "keyword1": {"value": "【网格通】测试消息"},
        "remark": {"value": "网格通"},
    }


def test_a_current_wechat_template_gets_its_own_keywords_each_cut_to_its_types_length(double, tmp_path):
    """Templates made since 2023 name their keywords (thing1, time2…); which one holds what is configured."""
    fields = "thing1=title,thing2=body,time3=time,character_string4=sender"
    [wechat] = providers(double, tmp_path, NOTIFICATION_WECHAT_FIELDS=fields).for_channel("wechat")
    wechat.clock = lambda: datetime(2026, 11, 30, 4, 5, tzinfo=UTC).timestamp()  # 12:05 in Beijing
    long_text = "【网格通】您有新的网格案件 HB-261130-AAAAAA（普通）：路灯不亮，请尽快处理。"
    wechat.send(outgoing("wechat", "openid-1", long_text))
    data = json.loads(double.calls("/wechat/cgi-bin/message/template/send")[0]["body"])["data"]
    assert data == {
        "thing1": {"value": "新案件待办"},
        "thing2": {"value": long_text[:19] + "…"},  # a `thing` holds at most 20 characters
        "time3": {"value": "2026年11月30日 12:05"},
        "character_string4": {"value": "网格通"},
    }


@pytest.mark.parametrize(
    ("fields", "refusal"),
    [
        ("thing1=colour", "the part is one of title, body, time, sender"),
        ("thing1", "is not keyword=part"),
        (",", "names no keyword"),
    ],
)
def test_a_wechat_field_mapping_that_cannot_be_filled_is_refused_at_start(double, tmp_path, fields, refusal):
    with pytest.raises(ConfigError, match=refusal):
        providers(double, tmp_path, NOTIFICATION_WECHAT_FIELDS=fields)


def test_wecom_bot_mentions_the_mobile_and_push_targets_the_device(double, tmp_path):
    built = providers(double, tmp_path)
    assert built.for_channel("wecom")[0].send(outgoing("wecom", "13900000000")).delivered is True
    assert double.json_of("/wecom")[0]["text"]["mentioned_mobile_list"] == ["13900000000"]
    assert built.for_channel("push")[0].send(outgoing("push", "reg-1")).provider_message_id.startswith("push-")
    [push] = double.json_of("/push")
    assert push["audience"] == {"registration_id": ["reg-1"]} and push["cid"] == "m-1"
    assert double.calls("/push")[0]["headers"]["Authorization"].startswith("Basic ")


def test_the_webhook_is_signed_so_the_partner_accepts_it_and_refuses_a_wrong_secret(double, tmp_path):
    [webhook] = providers(double, tmp_path).for_channel("webhook")
    assert webhook.send(outgoing("webhook", f"{double.url}/partner")).delivered is True
    [sent] = double.json_of("/partner")
    assert sent["message_id"] == "m-1" and sent["text"] == "【网格通】测试消息"
    [forged] = providers(double, tmp_path, NOTIFICATION_WEBHOOK_SECRET="wrong").for_channel("webhook")
    with pytest.raises(ProviderError, match="HTTP 401"):
        forged.send(outgoing("webhook", f"{double.url}/partner"))


def test_the_file_channel_appends_one_json_line_per_message(double, tmp_path):
    [file] = providers(double, tmp_path).for_channel("file")
    file.send(outgoing("file", "S0100"))
    file.send(outgoing("file", "S0100", "第二条"))
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [line["body"] for line in lines] == ["【网格通】测试消息", "第二条"]


def test_a_channel_switched_on_without_credentials_is_refused_at_start():
    with pytest.raises(ConfigError, match=r"sms_aliyun\.access_key_id"):
        parse_channel_config({"NOTIFICATION_CHANNELS": "inbox,sms"})
    with pytest.raises(ConfigError, match="inbox"):
        parse_channel_config({"NOTIFICATION_CHANNELS": "sms"})
    assert parse_channel_config({}).channels == ("inbox", "email", "file")
