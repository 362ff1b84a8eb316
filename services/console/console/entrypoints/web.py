"""The console's web plumbing: the signed-in viewer from an HttpOnly cookie, the live stream, and static files."""

from __future__ import annotations

import json
import mimetypes
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nameko.extensions import DependencyProvider
from prometheus_client import Counter, Gauge
from werkzeug.wrappers import Response

from console.domain.access import CONSOLE_ROLES
from console.domain.cases import RecordedEvent
from gridlink.runtime.auth import Principal, TokenError, bearer_token, verify_token
from gridlink.runtime.entrypoints import Forbidden, NotFound, Unauthorized

LIVE_STREAMS = Gauge("gridlink_console_live_streams", "Browsers connected to the console's live stream.")
ACTIONS = Counter(
    "gridlink_console_actions_total",
    "Supervise and escalate requests sent to dispatch from the console, by action and dispatch's HTTP status.",
    ["action", "status"],
)
COOKIE = "gridlink_console"
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# Everything the pages load comes from the console itself: no CDN, no tiles, no inline script.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    token: str

    @property
    def scope(self) -> str | None:
        """The organisation-code prefix this person sees; None is the whole district (admin)."""
        return None if self.principal.role == "admin" else self.principal.unit


class ConsoleAuth(DependencyProvider):
    """`self.auth.viewer(request)` → the Viewer, from the console cookie or a bearer token; or a 401/403 ApiError."""

    def setup(self):
        self.secret = self.container.config["GRIDLINK"].auth_secret

    def get_dependency(self, worker_ctx):
        return CookieAuthenticator(self.secret)


class CookieAuthenticator:
    def __init__(self, secret: str):
        self.secret = secret

    def check(self, token: str) -> Viewer:
        try:
            principal = verify_token(self.secret, token)
        except TokenError as exc:
            raise Unauthorized(str(exc)) from None
        if principal.role not in CONSOLE_ROLES:
            raise Forbidden(f"the console is for {', '.join(CONSOLE_ROLES)}; a {principal.role} uses their own app")
        return Viewer(principal, token)

    def viewer(self, request) -> Viewer:
        token = request.cookies.get(COOKIE)
        if not token:
            try:
                token = bearer_token(request.headers.get("Authorization"))
            except TokenError:
                raise Unauthorized("sign in to the console first (POST /login with a staff token)") from None
        return self.check(token)

    def viewer_or_none(self, request) -> Viewer | None:
        try:
            return self.viewer(request)
        except (Unauthorized, Forbidden):
            return None


def login_cookie(response: Response, viewer: Viewer, secure: bool) -> Response:
    max_age = max(int(viewer.principal.expires_at - time.time()), 0)
    response.set_cookie(
        COOKIE, viewer.token, max_age=max_age, httponly=True, samesite="Strict", secure=secure, path="/"
    )
    return response


def html_response(body: str, status: int = 200) -> Response:
    return Response(body, status=status, mimetype="text/html", headers=SECURITY_HEADERS)


def redirect(location: str, status: int = 303) -> Response:
    return Response("", status=status, headers={"Location": location})


def static_file(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if STATIC_DIR not in path.parents or not path.is_file():
        raise NotFound(f"no static file {name!r}")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Response(path.read_bytes(), mimetype=kind, headers={"Cache-Control": "max-age=300"})


def event_stream(
    fetch: Callable[[int], list[RecordedEvent]],
    render: Callable[[RecordedEvent], dict],
    after: int,
    until: float | None = None,
    poll_seconds: float = 0.5,
    heartbeat_seconds: float = 15.0,
) -> Iterator[bytes]:
    """Server-sent events: every recorded event after `after`, as it is recorded, with a heartbeat comment when
    nothing happens so proxies keep the connection open. It runs in the client's own green thread; it polls the
    read model rather than an in-process queue so that each replica serves every event, whichever consumed it.
    """
    LIVE_STREAMS.inc()
    try:
        yield b"retry: 3000\n: connected\n\n"
        quiet = 0.0
        # The stream ends with the viewer's token; the browser's reconnect then meets the 401 of an expired token.
        while until is None or time.time() < until:
            batch = fetch(after)
            for event in batch:
                after = event.seq
                data = json.dumps(render(event), ensure_ascii=False, default=str)
                yield f"id: {event.seq}\ndata: {data}\n\n".encode()
            if batch:
                quiet = 0.0
                continue
            time.sleep(poll_seconds)
            quiet += poll_seconds
            if quiet >= heartbeat_seconds:
                quiet = 0.0
                yield b": heartbeat\n\n"
    finally:  # the browser went away (the server closes the generator) or the token expired
        LIVE_STREAMS.dec()


def stream_response(request, body: Iterator[bytes]) -> Response:
    # eventlet's WSGI server gathers 4 KiB before it writes a chunk; an event must leave at once.
    request.environ["eventlet.minimum_write_chunk_size"] = 0
    return Response(
        body,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        direct_passthrough=True,
    )
