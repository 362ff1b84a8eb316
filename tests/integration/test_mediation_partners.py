"""Partner departments over the real broker: the pika-only example adapter runs a full referral → accepted →
session → agreement cycle, and a partner with no Python at all (Debian's amqp-consume and amqp-publish) reads a
referral and declines it. Answers from the wrong partner or about an old referral are refused, and a resent answer
has no second effect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
import requests

from gridlink.runtime.config import REPO_ROOT
from tests.integration.test_mediation_service import OPERATOR, outbox, svc, walk_in  # noqa: F401 (fixture)
from tests.polling import wait_for

ADAPTER = REPO_ROOT / "services" / "mediation" / "examples" / "partner_adapter.py"


def dispute_of(svc, dispute_id: str) -> dict:  # noqa: F811
    return requests.get(f"{svc['base']}/disputes/{dispute_id}", timeout=5).json()


def transfer(svc, dispute: dict, channel: str) -> dict:  # noqa: F811
    response = requests.post(
        f"{svc['base']}/disputes/{dispute['dispute_id']}/transfer",
        json={"to_channel_code": channel, "reason": "人民调解不成，转partner"},
        headers=OPERATOR,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def binding_exists(amqp: str, exchange: str, queue: str) -> bool:
    parsed = urlparse(amqp)
    vhost = unquote(parsed.path.lstrip("/"))
    api = f"http://{parsed.hostname}:15672/api/bindings/{vhost}/e/{exchange}/q/{queue}"
    response = requests.get(api, auth=(parsed.username, parsed.password), timeout=5)
    return response.status_code == 200 and bool(response.json())


def _exchange_exists(amqp: str) -> bool:
    parsed = urlparse(amqp)
    vhost = unquote(parsed.path.lstrip("/"))
    api = f"http://{parsed.hostname}:15672/api/exchanges/{vhost}/mediation.events"
    return requests.get(api, auth=(parsed.username, parsed.password), timeout=5).status_code == 200


def test_the_pika_partner_adapter_runs_a_referral_to_agreement(svc):  # noqa: F811
    adapter = subprocess.Popen(
        [sys.executable, str(ADAPTER), "--amqp", svc["amqp"], "--department", "court", "--outcome", "agreement"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert adapter.stdout.readline().strip() == "ready"
        dispute = walk_in(svc)
        moved = transfer(svc, dispute, "micro_court_mediation")
        assert moved["state"] == "referred" and moved["case_code"] == dispute["case_code"]
        done = wait_for(
            lambda: (
                dispute_of(svc, dispute["dispute_id"])["state"] == "agreed" and dispute_of(svc, dispute["dispute_id"])
            ),
            timeout=60,
            what="the court's agreement",
        )
        assert adapter.wait(timeout=30) == 0
    finally:
        if adapter.poll() is None:
            adapter.kill()
        output = adapter.stdout.read()
    assert output.count("sent ") == 3, output
    court = done["path"][-1]
    assert (court["channel"], court["state"]) == ("micro_court_mediation", "agreed")
    assert [s["channel"] for s in done["path"]] == ["peoples_mediation", "micro_court_mediation"]
    assert done["case_code"] == dispute["case_code"] and done["agreement"]["follow_up_due_at"]
    types = [t for t, _ in outbox(svc, dispute["dispute_id"])]
    for expected in ("dispute_referred", "mediation_accepted", "session_scheduled", "agreement_reached"):
        assert expected in types
    assert "partner_reply_rejected" not in types


def test_a_partner_with_no_python_reads_a_referral_and_declines_it(svc):  # noqa: F811
    if not Path("/usr/bin/amqp-publish").exists():
        if os.environ.get("CI"):
            pytest.fail("Debian's amqp-tools (amqp-publish, amqp-consume) are needed: apt-get install amqp-tools")
        pytest.skip("needs Debian's amqp-tools")
    amqp, queue = svc["amqp"], f"legal-aid-{uuid.uuid4().hex[:6]}"
    dispute = walk_in(svc)  # in a running platform mediation.events exists already; here the walk-in declares it
    wait_for(lambda: _exchange_exists(amqp), timeout=20, what="mediation.events")
    consumer = subprocess.Popen(
        ["amqp-consume", "-u", amqp, "-q", queue, "-e", "mediation.events", "-r", "dispute_referred", "-c", "1", "cat"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: binding_exists(amqp, "mediation.events", queue), timeout=20, what="the partner's binding")
        transfer(svc, dispute, "legal_aid")
        body, _ = consumer.communicate(timeout=60)
    finally:
        if consumer.poll() is None:
            consumer.kill()
    referral = json.loads(body)
    assert referral["type"] == "dispute_referred" and referral["payload"]["partner_code"] == "legal_aid"
    assert referral["payload"]["case_code"] == dispute["case_code"]
    assert "楼上漏水" not in body  # statements never travel on the bus

    def answer(event_type: str, source: str, payload: dict, event_id: str | None = None) -> str:
        envelope = {
            "event_id": event_id or str(uuid.uuid4()),
            "type": event_type,
            "version": 1,
            "occurred_at": datetime.now(UTC).isoformat(),
            "source": source,
            "correlation_id": referral["correlation_id"],
            "causation_id": referral["event_id"],
            "payload": payload,
        }
        subprocess.run(
            [
                "amqp-publish",
                "-u",
                amqp,
                "-e",
                f"{source}.events",
                "-r",
                event_type,
                "-p",
                "-C",
                "application/json",
                "-b",
                json.dumps(envelope, ensure_ascii=False),
            ],
            check=True,
        )
        return envelope["event_id"]

    about = {k: referral["payload"][k] for k in ("referral_id", "dispute_id", "case_code")}
    # The court is not the legal aid centre: refused, with a reason on the bus, and nothing changes.
    answer("partner_referral_declined", "partner.court", {**about, "reason": "不是我的"})
    wait_for(
        lambda: "partner_reply_rejected" in [t for t, _ in outbox(svc, dispute["dispute_id"])],
        timeout=30,
        what="the refusal of a foreign answer",
    )
    assert dispute_of(svc, dispute["dispute_id"])["state"] == "referred"

    declined = answer("partner_referral_declined", "partner.legal_aid", {**about, "reason": "经济状况不符合援助条件"})
    wait_for(lambda: dispute_of(svc, dispute["dispute_id"])["state"] == "declined", timeout=30, what="the decline")
    answer("partner_referral_declined", "partner.legal_aid", {**about, "reason": "经济状况不符合援助条件"}, declined)
    # A second decline under a new event id is refused (the referral is closed). It travels the same queue after the
    # resend, so once its refusal is out the resend has been handled too: ignored, or it would be a third refusal.
    stale = answer("partner_referral_declined", "partner.legal_aid", {**about, "reason": "再次拒绝"})
    refusals = lambda: [p for t, p in outbox(svc, dispute["dispute_id"]) if t == "partner_reply_rejected"]  # noqa: E731
    wait_for(lambda: stale in [p["event_id"] for p in refusals()], timeout=30, what="the refusal of a stale answer")
    assert len(refusals()) == 2 and "declined" in refusals()[-1]["reason"]
    events = [t for t, _ in outbox(svc, dispute["dispute_id"])]
    assert events.count("mediation_declined") == 1
    final = dispute_of(svc, dispute["dispute_id"])
    assert final["path"][-1]["state"] == "declined" and final["case_code"] == dispute["case_code"]
