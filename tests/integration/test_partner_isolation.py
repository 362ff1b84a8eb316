"""Partner departments on the broker: the permissions District IT deploys (rendered from deploy/ with kustomize)
are applied to a real RabbitMQ, and each partner is tried against what it must not do."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from urllib.parse import quote, unquote, urlparse

import pytest
import requests
import yaml
from amqp.exceptions import AccessRefused, NotAllowed
from kombu import Connection, Exchange, Queue
from kombu.exceptions import OperationalError

from gridlink.runtime.config import REPO_ROOT


def rendered_partner_permissions() -> dict[str, dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is needed to render deploy/overlays/prod")
    out = subprocess.run(
        [kubectl, "kustomize", str(REPO_ROOT / "deploy" / "overlays" / "prod")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    partners: dict[str, dict] = {}
    for doc in yaml.safe_load_all(out):
        if not doc or doc.get("apiVersion", "").split("/")[0] != "rabbitmq.com":
            continue
        user = doc["spec"].get("userReference", {}).get("name", "")
        if not user.endswith("-partner"):
            continue
        entry = partners.setdefault(user, {"permission": None, "topics": []})
        if doc["kind"] == "Permission":
            entry["permission"] = doc["spec"]["permissions"]
        elif doc["kind"] == "TopicPermission":
            entry["topics"].append(doc["spec"]["permissions"])
    return partners


@pytest.fixture(scope="module")
def broker(new_vhost):
    """A fresh vhost with the rendered partner users in it; yields {partner: amqp uri} plus the admin uri."""
    admin_uri = new_vhost()
    parsed = urlparse(admin_uri)
    vhost = unquote(parsed.path.lstrip("/"))
    api = f"http://{parsed.hostname}:15672/api"
    auth = (parsed.username, parsed.password)
    uris = {"admin": admin_uri}
    made = []
    for user, spec in rendered_partner_permissions().items():
        name = f"{user}-{uuid.uuid4().hex[:6]}"
        password = uuid.uuid4().hex
        requests.put(f"{api}/users/{name}", json={"password": password, "tags": ""}, auth=auth).raise_for_status()
        made.append(name)
        requests.put(
            f"{api}/permissions/{quote(vhost, safe='')}/{name}", json=spec["permission"], auth=auth
        ).raise_for_status()
        for topic in spec["topics"]:
            requests.put(
                f"{api}/topic-permissions/{quote(vhost, safe='')}/{name}", json=topic, auth=auth
            ).raise_for_status()
        uris[user.removesuffix("-partner").replace("-", "_")] = (
            f"amqp://{name}:{password}@{parsed.hostname}:{parsed.port or 5672}/{quote(vhost, safe='')}"
        )
    with Connection(admin_uri) as conn:  # GridLink's own exchanges exist before partners bind to them
        for source in ("intake", "dispatch", "mediation", "volunteer", "notification"):
            Exchange(f"{source}.events", type="topic", durable=True)(conn.default_channel).declare()
    yield uris
    for name in made:
        requests.delete(f"{api}/users/{name}", auth=auth)


def refused(action) -> bool:
    try:
        action()
    except (AccessRefused, NotAllowed, OperationalError) as exc:
        return "ACCESS_REFUSED" in str(exc) or "access to" in str(exc) or isinstance(exc, AccessRefused)
    return False


def inbox(dept: str) -> Queue:
    # GridLink's exchange is only bound to, never declared: declaring it needs a permission partners do not have.
    gridlink = Exchange("dispatch.events", type="topic", no_declare=True)
    return Queue(f"partner.{dept}.inbox", gridlink, routing_key="case_assigned")


def test_every_partner_in_the_manifests_is_tried(broker):
    assert {"court", "labour_arbitration", "legal_aid", "city_management"} <= set(broker)


def publish(conn, exchange: str) -> None:
    """Publish, then make one synchronous call: a refused publish closes the channel, which that call reveals."""
    channel = conn.channel()
    channel.basic_publish(channel.prepare_message(b'{"forged": true}'), exchange=exchange, routing_key="case_closed")
    channel.basic_qos(0, 1, False)


def test_a_partner_binds_its_own_queue_and_publishes_on_its_own_exchange(broker):
    with Connection(broker["court"]) as conn:
        queue = inbox("court")(conn.default_channel)
        queue.declare()
        queue.bind_to(exchange="dispatch.events", routing_key="case_escalated")
        Exchange("partner.court.events", type="topic", durable=True)(conn.default_channel).declare()
        publish(conn, "partner.court.events")


def test_a_partner_cannot_read_anothers_queue(broker):
    with Connection(broker["labour_arbitration"]) as conn:
        inbox("labour_arbitration")(conn.default_channel).declare()
    with Connection(broker["court"]) as conn:
        assert refused(lambda: conn.default_channel.basic_get("partner.labour_arbitration.inbox"))


def test_a_partner_cannot_declare_queues_outside_its_namespace(broker):
    with Connection(broker["court"]) as conn:
        assert refused(
            lambda: Queue("evt-intake-report_accepted--dispatch.on_report_accepted")(conn.default_channel).declare()
        )


def test_a_partner_cannot_publish_to_gridlink_or_another_partners_exchange(broker):
    with Connection(broker["labour_arbitration"]) as conn:
        Exchange("partner.labour_arbitration.events", type="topic", durable=True)(conn.default_channel).declare()
    for exchange in ("dispatch.events", "partner.labour_arbitration.events"):
        with Connection(broker["court"]) as conn:
            assert refused(lambda c=conn, x=exchange: publish(c, x)), exchange


def test_a_partner_cannot_bind_to_personal_data(broker):
    with Connection(broker["court"]) as conn:
        queue = Queue("partner.court.sneaky", durable=True)(conn.default_channel)
        queue.declare()
        assert refused(lambda: queue.bind_to(exchange="intake.events", routing_key="reporter_contact_registered"))
    with Connection(broker["court"]) as conn:
        queue = Queue("partner.court.sneaky", durable=True)(conn.default_channel)
        assert refused(lambda: queue.bind_to(exchange="intake.events", routing_key="#"))
