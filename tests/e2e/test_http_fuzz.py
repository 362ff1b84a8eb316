"""Property-based fuzz of every HTTP route of every service: whatever a person sends, the answer is never a 5xx,
and an error is always a JSON body with a code and a description.

Routes are read from the services' own nameko entrypoints, so a new endpoint is fuzzed without editing this file.
"""

from __future__ import annotations

import importlib
import re

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridlink.devstack import SERVICES
from gridlink.runtime.auth import DEFAULT_SECRET, issue_token
from gridlink.runtime.entrypoints import HttpEntrypoint

# Streams never end on their own; they are tested by their owners.
SKIP_URL = re.compile(r"/(stream|events/live|sse)\b")
TOKENS = [
    None,
    issue_token(DEFAULT_SECRET, "A1", "admin", ""),
    issue_token(DEFAULT_SECRET, "S0001", "grid_worker", "150302001001001"),
]


def routes() -> list[tuple[str, str, str]]:
    found = []
    for service in SERVICES:
        cls = importlib.import_module(f"{service}.entrypoints.service")
        service_cls = next(v for v in vars(cls).values() if isinstance(v, type) and getattr(v, "name", None) == service)
        for attr in dir(service_cls):
            for entrypoint in getattr(getattr(service_cls, attr), "nameko_entrypoints", ()):
                if isinstance(entrypoint, HttpEntrypoint) and not SKIP_URL.search(entrypoint.url):
                    for method in entrypoint.method.split(","):
                        found.append((service, method.strip(), entrypoint.url))
    return sorted(set(found))


ROUTES = routes()
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
segment = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#%"), min_size=1, max_size=40
)


def fill(url: str, draw) -> str:
    def one(match: re.Match) -> str:
        converter = match.group(1) or "string"
        if converter == "int":
            return str(draw(st.integers(min_value=-5, max_value=10**12)))
        return requests.utils.quote(draw(segment), safe="")

    return re.sub(r"<(?:(\w+):)?\w+>", one, url)


@pytest.mark.parametrize(("service", "method", "url"), ROUTES, ids=[f"{s}:{m}:{u}" for s, m, u in ROUTES])
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_input_gets_a_5xx(stack, service, method, url, data):
    path = fill(url, data.draw)
    token = data.draw(st.sampled_from(TOKENS))
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = data.draw(
        st.dictionaries(
            st.sampled_from(["limit", "page", "since", "status", "q", "x"]), st.text(max_size=20), max_size=3
        )
    )
    kwargs: dict = {"params": params, "headers": headers, "timeout": 10}
    if method in ("POST", "PUT", "PATCH"):
        if data.draw(st.booleans()):
            kwargs["json"] = data.draw(st.dictionaries(st.text(max_size=15), json_values, max_size=6))
        else:
            kwargs["data"] = data.draw(st.binary(max_size=200))
            headers["Content-Type"] = data.draw(
                st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded"])
            )
    response = requests.request(method, stack.url(service, path), **kwargs)
    assert response.status_code < 500, f"{method} {path} → {response.status_code}: {response.text[:300]}"
    if response.status_code >= 400 and response.headers.get("Content-Type", "").startswith("application/json"):
        body = response.json()
        error = body.get("error") if isinstance(body, dict) else None
        if error is not None:
            assert error.get("code") and error.get("description")
