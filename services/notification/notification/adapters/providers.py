"""Delivery providers, one per way of reaching a person: real HTTP and SMTP client code, configured by environment.

A provider's `send` either returns `Accepted` (with the provider's own message id, so a receipt can find the
message later) or raises `ProviderError`; the caller records the attempt and fails over or backs off.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import smtplib
import threading
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from gridlink.contracts.events.notification import (
    WEBHOOK_DELIVERY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
    sign_webhook,
)
from notification import metrics
from notification.adapters.signing import aliyun_v3_headers, canonical_query, tencent_tc3_headers
from notification.config import PLATFORM_NAME, ChannelConfig, wechat_fields
from notification.domain.errors import InvalidReceipt
from notification.domain.templates import CST

log = logging.getLogger("notification.providers")


@dataclass(frozen=True)
class Outgoing:
    """What a provider needs to send one message."""

    message_id: str
    recipient_id: str
    channel: str
    template_code: str
    title: str
    body: str
    address: str
    correlation_id: str


@dataclass(frozen=True)
class Accepted:
    provider: str
    provider_message_id: str | None
    delivered: bool  # local channels deliver outright; others wait for a receipt


@dataclass(frozen=True)
class Receipt:
    provider_message_id: str
    delivered: bool
    reason: str | None = None


class ProviderError(Exception):
    """The provider refused the message or could not be reached; the text says which and why."""


class Provider(ABC):
    """One way to reach a person; each concrete provider says how it sends."""

    code = ""
    channel = ""

    @abstractmethod
    def send(self, out: Outgoing) -> Accepted:
        """Hand the message to the provider; raises ProviderError when it refuses or cannot be reached."""

    def receipts(self, body: Any) -> list[Receipt]:
        """Parse this provider's delivery-receipt callback body."""
        raise InvalidReceipt(f"{self.code} sends no delivery receipts")


class HttpProvider(Provider):
    def __init__(self, settings: dict[str, str], timeout: float, clock=time.time):
        self.settings = settings
        self.timeout = timeout
        self.clock = clock  # wall-clock seconds: signed requests carry the time they were signed
        self.http = requests.Session()

    def _post(self, url: str, **kwargs) -> dict:
        try:
            response = self.http.post(url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise ProviderError(f"{self.code}: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 400:
            raise ProviderError(f"{self.code}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            return response.json()
        except ValueError:
            raise ProviderError(f"{self.code}: the answer is not JSON: {response.text[:200]}") from None


class InboxProvider(Provider):
    """The message row is the delivery, read over HTTP (GET /inbox/<recipient>); its attempt row records it.

    The log line to follow it is DEBUG and carries no text: at INFO it was two lines a report in a busy process, and
    a message's words (a resident's name, an address) do not belong in an operator's logs.
    """

    code = channel = "inbox"

    def send(self, out: Outgoing) -> Accepted:
        log.debug(
            "inbox message delivered",
            extra={"fields": {"recipient_id": out.recipient_id, "message_id": out.message_id}},
        )
        return Accepted(self.code, out.message_id, delivered=True)


class FileProvider(Provider):
    """Appends one JSON line per message to a file: the local stand-in for every push channel."""

    code = channel = "file"
    _lock = threading.Lock()

    def __init__(self, path: str):
        self.path = Path(path)

    def send(self, out: Outgoing) -> Accepted:
        line = json.dumps({**out.__dict__, "at": time.time()}, ensure_ascii=False)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._lock, self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise ProviderError(f"file: {exc}") from exc
        return Accepted(self.code, out.message_id, delivered=True)


class SmtpProvider(Provider):
    """E-mail over SMTP on a small pool of connections kept open across messages: a connect, EHLO (and STARTTLS,
    login) and QUIT per message cost more than the message, on both ends.

    A group of delivery passes sends its e-mails at once (`deliver_handed_off`). At most `connections`
    (NOTIFICATION_SMTP_CONNECTIONS, 4) are open at a time; a send beyond them waits for one to come back, up to the
    provider's timeout, and is then a provider error that the pass's timer retries. Before the pool, each
    concurrent send opened its own connection and all but one were closed after it, so under load nearly every
    e-mail paid for a connection (docs/performance.md, Optimisation 42). An idle connection older than `keep_open`
    is closed, not reused, and a reused one the server has dropped is replaced once."""

    code = channel = "email"
    keep_open = 10.0  # seconds; well under the idle timeouts of common servers (Postfix 300 s, Exim 5 min)

    def __init__(self, smtp: dict[str, str], timeout: float, clock=time.monotonic):
        self.host = smtp["host"]
        self.port = int(smtp["port"])
        self.sender = smtp["sender"]
        self.user = smtp.get("user") or None
        self.password = smtp.get("password") or None
        self.starttls = smtp.get("starttls", "false").lower() in ("1", "true", "yes")
        self.timeout = timeout
        self.clock = clock
        # Postfix lets one client hold 50 at once (smtpd_client_connection_count_limit); a few are enough here.
        self.connections = int(smtp["connections"])
        self._envelope_from = parseaddr(self.sender)[1]
        self._from_header = formataddr(parseaddr(self.sender))
        # Connections not in use, newest last, each with when it was put back; one in use is out of the list.
        self._idle: list[tuple[smtplib.SMTP, float]] = []
        self._guard = threading.Lock()
        # Green once the service has patched the standard library, as the sends are.
        self._slots = threading.BoundedSemaphore(self.connections)

    def send(self, out: Outgoing) -> Accepted:
        mail = mail_bytes(self._from_header, out)
        if not self._slots.acquire(timeout=self.timeout):
            raise ProviderError(f"email: {self.host}:{self.port}: all {self.connections} connections busy")
        try:
            reused = self._take_idle()
            if reused is not None:
                try:
                    self._hand_over(reused, out.address, mail)
                    return Accepted(self.code, out.message_id, delivered=False)
                except smtplib.SMTPServerDisconnected:
                    pass  # dropped while idle: once more on a fresh connection
            self._hand_over(self._connect(), out.address, mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise ProviderError(f"email: {self.host}:{self.port}: {type(exc).__name__}: {exc}") from exc
        finally:
            self._slots.release()
        return Accepted(self.code, out.message_id, delivered=False)

    def _hand_over(self, smtp: smtplib.SMTP, address: str, mail: bytes) -> None:
        """Send on `smtp`, then keep it for the next message; a connection that failed is closed, never kept."""
        try:
            smtp.sendmail(self._envelope_from, [address], mail)
        except BaseException:
            _close(smtp)
            raise
        self._idle.append((smtp, self.clock()))

    def _take_idle(self) -> smtplib.SMTP | None:
        """The most recently used connection still fresh; the stale ones (the oldest first) are closed."""
        now = self.clock()
        with self._guard:  # the list only: closing, which waits on the server, happens outside
            stale = []
            while self._idle and now - self._idle[0][1] > self.keep_open:
                stale.append(self._idle.pop(0)[0])
            taken = self._idle.pop()[0] if self._idle else None
        for smtp in stale:
            _quit(smtp)
        return taken

    def _connect(self) -> smtplib.SMTP:
        smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        metrics.SMTP_CONNECTIONS.inc()  # connected and greeted; a refused connect is an attempt's failure instead
        try:
            if self.starttls:
                smtp.starttls()
            if self.user:
                smtp.login(self.user, self.password or "")
        except BaseException:
            _close(smtp)
            raise
        return smtp


DEFAULT_SUBJECT = "网格通通知"


def mail_bytes(from_header: str, out: Outgoing) -> bytes:
    """The message as SMTP carries it: a few fixed headers and the body in base64, written out directly. The
    `email` package's header registry cost more CPU than the rest of a delivery pass; these headers need none of it.
    """
    for value in (out.address, out.message_id, out.correlation_id):
        if not value.isascii() or "\r" in value or "\n" in value:
            raise ProviderError(f"email: cannot put {value!r} in a header")
    subject = Header(out.title or DEFAULT_SUBJECT, "utf-8").encode(linesep="\r\n")
    head = (
        # Date and From are the two headers RFC 5322 requires; smtplib adds neither.
        f"Date: {formatdate(usegmt=True)}\r\nFrom: {from_header}\r\nTo: {out.address}\r\nSubject: {subject}\r\n"
        f"Message-ID: <{out.message_id}@gridlink>\r\nX-GridLink-Correlation: {out.correlation_id}\r\n"
        'MIME-Version: 1.0\r\nContent-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
    )
    body = base64.encodebytes(out.body.encode()).replace(b"\n", b"\r\n")
    return head.encode("ascii") + body


def _quit(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


class AliyunSms(HttpProvider):
    """Aliyun SMS (SendSms, API 2017-05-25, signature V3): an approved template with the text as its parameter;
    OutId carries our message id. An RPC-style action: its parameters go in the query string, the body is empty."""

    code = "sms_aliyun"
    channel = "sms"
    version = "2017-05-25"

    def send(self, out: Outgoing) -> Accepted:
        s = self.settings
        query = {
            "PhoneNumbers": out.address,
            "SignName": s["sign_name"],
            "TemplateCode": s["template_code"],
            "TemplateParam": json.dumps({"content": out.body}, ensure_ascii=False),
            "OutId": out.message_id,
        }
        url = urlsplit(s["url"])
        headers = aliyun_v3_headers(
            access_key_id=s["access_key_id"],
            access_key_secret=s["access_key_secret"],
            host=url.netloc,
            action="SendSms",
            version=self.version,
            query=query,
            body=b"",
            now=datetime.fromtimestamp(self.clock(), UTC),
            nonce=uuid.uuid4().hex,
            path=url.path or "/",
        )
        answer = self._post(f"{s['url']}?{canonical_query(query)}", data=b"", headers=headers)
        if answer.get("Code") != "OK":
            raise ProviderError(f"{self.code}: {answer.get('Code')}: {answer.get('Message')}")
        return Accepted(self.code, str(answer.get("BizId")), delivered=False)

    def receipts(self, body: Any) -> list[Receipt]:
        # SmsReport: [{"biz_id": ..., "success": true, "err_code": "DELIVERED", ...}]
        try:
            return [Receipt(str(r["biz_id"]), bool(r["success"]), r.get("err_msg")) for r in _as_list(body)]
        except (KeyError, TypeError) as exc:
            raise InvalidReceipt(f"{self.code} receipt lacks {exc}") from None


class TencentSms(HttpProvider):
    """Tencent Cloud SMS (SendSms, API 2021-01-11, signature TC3-HMAC-SHA256): SessionContext carries our message
    id; SerialNo is the provider's."""

    code = "sms_tencent"
    channel = "sms"
    version = "2021-01-11"

    def send(self, out: Outgoing) -> Accepted:
        s = self.settings
        phone = out.address if out.address.startswith("+") else f"+86{out.address}"
        body = json.dumps(
            {
                "PhoneNumberSet": [phone],
                "SmsSdkAppId": s["app_id"],
                "SignName": s["sign_name"],
                "TemplateId": s["template_id"],
                "TemplateParamSet": [out.body],
                "SessionContext": out.message_id,
            },
            ensure_ascii=False,
        ).encode()
        headers = tencent_tc3_headers(
            secret_id=s["secret_id"],
            secret_key=s["secret_key"],
            host=urlsplit(s["url"]).netloc,
            service="sms",
            action="SendSms",
            version=self.version,
            region=s["region"],
            body=body,
            timestamp=int(self.clock()),
        )
        answer = self._post(s["url"], data=body, headers=headers)
        response = answer.get("Response", {})
        if "Error" in response:
            raise ProviderError(f"{self.code}: {response['Error'].get('Code')}: {response['Error'].get('Message')}")
        status = (response.get("SendStatusSet") or [{}])[0]
        if status.get("Code") != "Ok":
            raise ProviderError(f"{self.code}: {status.get('Code')}: {status.get('Message')}")
        return Accepted(self.code, str(status.get("SerialNo")), delivered=False)

    def receipts(self, body: Any) -> list[Receipt]:
        # Status callback: [{"sid": ..., "report_status": "SUCCESS" | "FAIL", "description": ...}]
        try:
            return [
                Receipt(str(r["sid"]), r["report_status"] == "SUCCESS", r.get("description")) for r in _as_list(body)
            ]
        except (KeyError, TypeError) as exc:
            raise InvalidReceipt(f"{self.code} receipt lacks {exc}") from None


# How long WeChat lets a template keyword's value be, by the keyword's type (its name without the number).
WECHAT_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "name": 10, "number": 32, "letter": 32}


def _fit(keyword: str, value: str) -> str:
    limit = WECHAT_LIMITS.get(keyword.rstrip("0123456789"))
    return value if limit is None or len(value) <= limit else value[: limit - 1] + "…"


class WeChatTemplate(HttpProvider):
    """A WeChat service-account template message to the person's openid, with a cached access token. Which of the
    template's keywords gets the title, the text, the time or the sender is configured (NOTIFICATION_WECHAT_FIELDS),
    each value cut to its keyword type's length."""

    code = channel = "wechat"

    def __init__(self, settings: dict[str, str], timeout: float):
        super().__init__(settings, timeout)
        self._token: tuple[str, float] | None = None
        self.fields = wechat_fields(settings["fields"])

    def _access_token(self) -> str:
        if self._token and self._token[1] > time.monotonic():
            return self._token[0]
        s = self.settings
        try:
            response = self.http.get(
                f"{s['url']}/cgi-bin/token",
                params={"grant_type": "client_credential", "appid": s["app_id"], "secret": s["app_secret"]},
                timeout=self.timeout,
            )
            answer = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderError(f"wechat: access token: {exc}") from exc
        if "access_token" not in answer:
            raise ProviderError(f"wechat: access token: {answer.get('errcode')}: {answer.get('errmsg')}")
        # Renew a minute early so that a token never expires between fetch and use.
        self._token = (answer["access_token"], time.monotonic() + int(answer.get("expires_in", 7200)) - 60)
        return self._token[0]

    def send(self, out: Outgoing) -> Accepted:
        parts = {
            "title": out.title,
            "body": out.body,
            "time": datetime.fromtimestamp(self.clock(), CST).strftime("%Y年%m月%d日 %H:%M"),
            "sender": PLATFORM_NAME,
        }
        payload = {
            "touser": out.address,
            "template_id": self.settings["template_id"],
            "data": {keyword: {"value": _fit(keyword, parts[part])} for keyword, part in self.fields},
            "client_msg_id": out.message_id,  # WeChat drops a repeat of the same id: a retry never sends twice
        }
        answer = self._post(
            f"{self.settings['url']}/cgi-bin/message/template/send",
            params={"access_token": self._access_token()},
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
        )
        if answer.get("errcode", 0) != 0:
            if answer.get("errcode") in (40001, 42001):  # token revoked or expired early
                self._token = None
            raise ProviderError(f"wechat: {answer.get('errcode')}: {answer.get('errmsg')}")
        return Accepted(self.code, str(answer.get("msgid")), delivered=False)

    def receipts(self, body: Any) -> list[Receipt]:
        # TEMPLATESENDJOBFINISH, as JSON: {"MsgID": 1, "Status": "success" | "failed:user block" | ...}
        try:
            return [Receipt(str(r["MsgID"]), r["Status"] == "success", r["Status"]) for r in _as_list(body)]
        except (KeyError, TypeError) as exc:
            raise InvalidReceipt(f"wechat receipt lacks {exc}") from None


class WeComBot(HttpProvider):
    """A WeCom (enterprise WeChat) group-bot message that @-mentions the person by mobile number."""

    code = channel = "wecom"

    def send(self, out: Outgoing) -> Accepted:
        text = {"content": out.body}
        if out.address.isdigit():
            text["mentioned_mobile_list"] = [out.address]
        answer = self._post(self.settings["url"], json={"msgtype": "text", "text": text})
        if answer.get("errcode", 0) != 0:
            raise ProviderError(f"wecom: {answer.get('errcode')}: {answer.get('errmsg')}")
        # The bot API confirms delivery into the group; it sends no later receipt.
        return Accepted(self.code, None, delivered=True)


class AppPush(HttpProvider):
    """App push through a JPush-style REST API (basic auth with the app key and master secret)."""

    code = channel = "push"

    def send(self, out: Outgoing) -> Accepted:
        s = self.settings
        answer = self._post(
            s["url"],
            auth=(s["app_key"], s["master_secret"]),
            json={
                "platform": "all",
                "audience": {"registration_id": [out.address]},
                "notification": {"alert": out.body, "android": {"title": out.title}, "ios": {"alert": out.body}},
                "options": {"apns_production": True, "third_party_channel": {}},
                "cid": out.message_id,  # the push service refuses a second push with the same cid
            },
        )
        if "error" in answer:
            raise ProviderError(f"push: {answer['error'].get('code')}: {answer['error'].get('message')}")
        return Accepted(self.code, str(answer.get("msg_id")), delivered=False)

    def receipts(self, body: Any) -> list[Receipt]:
        try:
            return [Receipt(str(r["msg_id"]), r["status"] == "delivered", r.get("reason")) for r in _as_list(body)]
        except (KeyError, TypeError) as exc:
            raise InvalidReceipt(f"push receipt lacks {exc}") from None


class SignedWebhook(Provider):
    """POSTs the message as JSON to a partner's URL, signed with HMAC-SHA256 over the timestamp and body."""

    code = channel = "webhook"

    def __init__(self, secret: str, timeout: float, clock=time.time):
        self.secret = secret
        self.timeout = timeout
        self.clock = clock
        self.http = requests.Session()

    def send(self, out: Outgoing) -> Accepted:
        body = json.dumps(
            {
                "message_id": out.message_id,
                "recipient_id": out.recipient_id,
                "template_code": out.template_code,
                "title": out.title,
                "text": out.body,
                "correlation_id": out.correlation_id,
            },
            ensure_ascii=False,
        ).encode()
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            WEBHOOK_TIMESTAMP_HEADER: str(stamp),
            WEBHOOK_SIGNATURE_HEADER: sign_webhook(self.secret, stamp, body),
            WEBHOOK_DELIVERY_HEADER: out.message_id,
        }
        try:
            response = self.http.post(out.address, data=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ProviderError(f"webhook: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 300:
            raise ProviderError(f"webhook: HTTP {response.status_code}: {response.text[:200]}")
        return Accepted(self.code, out.message_id, delivered=True)


def _as_list(body: Any) -> list[dict]:
    items = body if isinstance(body, list) else [body]
    if not all(isinstance(i, dict) for i in items):
        raise InvalidReceipt("a receipt is a JSON object or a list of them")
    return items


class Providers:
    """The providers of every switched-on channel, in failover order."""

    def __init__(self, by_channel: dict[str, list[Provider]]):
        self.by_channel = by_channel

    def for_channel(self, channel: str) -> list[Provider]:
        return self.by_channel.get(channel, [])

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.by_channel)

    def by_code(self, code: str) -> Provider | None:
        return next((p for ps in self.by_channel.values() for p in ps if p.code == code), None)


def build_providers(config: ChannelConfig) -> Providers:
    t = config.http_timeout
    factories = {
        "inbox": lambda: [InboxProvider()],
        "file": lambda: [FileProvider(config.file_path)],
        "email": lambda: [SmtpProvider(config.smtp, t)],
        "sms": lambda: [
            {"aliyun": AliyunSms, "tencent": TencentSms}[p](config.providers[f"sms_{p}"], t)
            for p in config.sms_providers
        ],
        "wechat": lambda: [WeChatTemplate(config.providers["wechat"], t)],
        "wecom": lambda: [WeComBot(config.providers["wecom"], t)],
        "push": lambda: [AppPush(config.providers["push"], t)],
        "webhook": lambda: [SignedWebhook(config.webhook_secret, t)],
    }
    return Providers({channel: factories[channel]() for channel in config.channels if channel in factories})
