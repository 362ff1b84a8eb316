"""The Kubernetes manifests: every overlay renders with `kubectl kustomize`, every built-in object passes
kubernetes-validate in strict mode, every custom resource passes deploy/schemas/custom-resources.yaml, and the
objects are wired together (probes, security, selectors, secrets, settings, partner permissions) as designed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from console.config import dispatch_url, notification_url
from gridlink.contracts import CONTRACTS, registry
from gridlink.devstack import DEFAULT_PORTS, SERVICES
from gridlink.runtime.config import REPO_ROOT, load_settings

DEPLOY = REPO_ROOT / "deploy"
OVERLAYS = ("dev", "prod")
KUBERNETES_VERSION = "1.32.0"
# Secrets production creates out of band; docs/operations.md must say how.
EXTERNAL_SECRETS = {
    "gridlink-auth",
    "gridlink-pii",
    "gridlink-rabbitmq-tls",
    "gridlink-backup-s3",
    "gridlink-console-tls",
    *(f"gridlink-db-{service}" for service in SERVICES),
}


def kustomize(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/ (kubectl kustomize)"
    rendered = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert rendered.returncode == 0, rendered.stderr
    return [doc for doc in yaml.safe_load_all(rendered.stdout) if doc]


@cache
def rendered(overlay: str) -> tuple[dict, ...]:
    return tuple(kustomize(DEPLOY / "overlays" / overlay))


def objects(overlay: str, kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def custom_schemas() -> dict[str, dict]:
    spec = yaml.safe_load((DEPLOY / "schemas" / "custom-resources.yaml").read_text())
    envelope = {
        "type": "object",
        "additionalProperties": False,
        "required": ["apiVersion", "kind", "metadata"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"$ref": "#/$defs/metadata"},
            "spec": {},
        },
    }
    return {key: {"$defs": spec["$defs"], "allOf": [envelope, schema]} for key, schema in spec["schemas"].items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_renders_every_object_and_each_validates_strictly(overlay):
    schemas = custom_schemas()
    problems = []
    for obj in rendered(overlay):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        key = f"{obj['apiVersion']} {obj['kind']}"
        if key in schemas:
            for error in jsonschema.Draft202012Validator(schemas[key]).iter_errors(obj):
                problems.append(f"{where} {'/'.join(map(str, error.absolute_path))}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: {key} is neither built in nor in deploy/schemas/custom-resources.yaml")
        except kubernetes_validate.ValidationError as error:
            problems.append(f"{where} {'/'.join(map(str, error.path))}: {error.message}")
    assert problems == []


def test_custom_resource_schemas_reject_what_they_should():
    """The hand-written schemas are closed: a misspelt field, a wrong enum or a classic-only quorum fails."""
    schemas = custom_schemas()
    queue = objects("prod", "Queue")["court-partner-inbox"]
    validator = jsonschema.Draft202012Validator(schemas["rabbitmq.com/v1beta1 Queue"])
    assert validator.is_valid(queue)
    assert not validator.is_valid({**queue, "spec": {**queue["spec"], "durabel": True}})
    assert not validator.is_valid({**queue, "spec": {**queue["spec"], "autoDelete": True}})
    rule = objects("prod", "PrometheusRule")["gridlink"]
    broken = yaml.safe_load(yaml.safe_dump(rule))
    broken["spec"]["groups"][0]["rules"][0]["labels"]["severity"] = "page-everyone"
    assert not jsonschema.Draft202012Validator(schemas["monitoring.coreos.com/v1 PrometheusRule"]).is_valid(broken)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_has_its_full_set_of_objects(overlay):
    for kind in ("Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget", "NetworkPolicy"):
        assert set(objects(overlay, kind)) == set(SERVICES), kind
    assert set(objects(overlay, "Job")) == {f"{s}-migrate" for s in SERVICES}
    assert set(SERVICES) <= set(objects(overlay, "ServiceMonitor"))


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_deployment_is_probed_limited_locked_down_and_stops_gracefully(overlay, service):
    deployment = objects(overlay, "Deployment")[service]
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)
    assert main["command"] == ["python", "-m", service, "run"]
    assert main["image"].startswith(f"ghcr.io/haibowan/gridlink-{service}:")
    assert main["ports"] == [{"name": "http", "containerPort": DEFAULT_PORTS[service], "protocol": "TCP"}]
    assert main["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    for kind in ("requests", "limits"):
        assert set(main["resources"][kind]) == {"cpu", "memory"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert main["securityContext"]["readOnlyRootFilesystem"] is True
    assert main["securityContext"]["allowPrivilegeEscalation"] is False
    assert main["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert {"mountPath": "/tmp", "name": "tmp"} in main["volumeMounts"]
    sleep = main["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    # The grace period must cover the preStop pause plus time for nameko to finish in-flight workers.
    assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + 30
    assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns the replica count"


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_selectors_reach_the_service_pods_and_only_them(overlay, service):
    deployment = objects(overlay, "Deployment")[service]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    job_labels = objects(overlay, "Job")[f"{service}-migrate"]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict, labels: dict) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    svc = objects(overlay, "Service")[service]
    assert selects(svc["spec"]["selector"], pod_labels) and not selects(svc["spec"]["selector"], job_labels)
    assert svc["spec"]["ports"][0]["targetPort"] == "http"
    pdb = objects(overlay, "PodDisruptionBudget")[service]["spec"]["selector"]["matchLabels"]
    assert selects(pdb, pod_labels) and not selects(pdb, job_labels)
    assert selects(deployment["spec"]["selector"]["matchLabels"], pod_labels)
    policy = objects(overlay, "NetworkPolicy")[service]["spec"]
    assert selects(policy["podSelector"]["matchLabels"], pod_labels)
    assert selects(policy["podSelector"]["matchLabels"], job_labels), "the migration Job needs the database too"
    monitor = objects(overlay, "ServiceMonitor")[service]["spec"]
    assert selects(monitor["selector"]["matchLabels"], svc["metadata"]["labels"])
    assert monitor["endpoints"][0]["port"] == "http" and monitor["endpoints"][0]["path"] == "/metrics"
    hpa = objects(overlay, "HorizontalPodAutoscaler")[service]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    assert hpa["minReplicas"] >= (3 if overlay == "prod" else 1)


def container_env(overlay: str, spec_container: dict, secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    """The environment Kubernetes would give the container, with $(VAR) references expanded as the kubelet does."""
    configmaps = objects(overlay, "ConfigMap")
    env: dict[str, str] = {}
    for source in spec_container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for var in spec_container["env"]:
        if "value" in var:
            env[var["name"]] = re.sub(r"\$\((\w+)\)", lambda m: env.get(m.group(1), m.group(0)), var["value"])
        else:
            ref = var["valueFrom"]["secretKeyRef"]
            env[var["name"]] = secrets.setdefault(ref["name"], {}).setdefault(
                ref["key"], f"<{ref['name']}.{ref['key']}>"
            )
    return env


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_service_reads_the_settings_the_manifests_mean(overlay, service):
    """Run the real settings loader on the rendered environment: listen on all interfaces at the service's port,
    use its own database on the CloudNativePG cluster and the gridlink vhost on the RabbitMQ cluster."""
    secrets: dict[str, dict[str, str]] = {}
    env = container_env(overlay, container(objects(overlay, "Deployment")[service]), secrets)
    assert not [v for v in env.values() if "$(" in v], "every $(VAR) must be defined before it is used"
    settings = load_settings(service, DEFAULT_PORTS[service], env)
    assert settings.http_host == "0.0.0.0"
    assert settings.http_port == DEFAULT_PORTS[service]
    password = f"<gridlink-db-{service}.password>"
    assert settings.database_url == (
        f"postgresql://{service}:{password}@gridlink-postgres-rw:5432/gridlink_{service}?sslmode=require"
    )
    user, password = "<gridlink-services-user-credentials.username>", "<gridlink-services-user-credentials.password>"
    assert settings.amqp_uri == f"amqp://{user}:{password}@gridlink-rabbitmq:5672/gridlink"
    assert settings.auth_secret == "<gridlink-auth.secret>"
    assert getattr(settings, "pii_key", "<gridlink-pii.key>") == "<gridlink-pii.key>"
    migrate = objects(overlay, "Job")[f"{service}-migrate"]["spec"]["template"]["spec"]["containers"][0]
    assert migrate["command"] == ["python", "-m", service, "migrate"]
    assert load_settings(service, 0, container_env(overlay, migrate, {})).database_url == (
        f"postgresql://{service}:<gridlink-db-{service}.password>@gridlink-postgres-rw:5432/gridlink_{service}"
        "?sslmode=require"
    )
    databases = {d["spec"]["name"]: d["spec"]["owner"] for d in objects(overlay, "Database").values()}
    assert databases[f"gridlink_{service}"] == service
    roles = objects(overlay, "Cluster")["gridlink-postgres"]["spec"]["managed"]["roles"]
    assert {
        "name": service,
        "ensure": "present",
        "login": True,
        "passwordSecret": {"name": f"gridlink-db-{service}"},
    } in roles


def admits(peer: dict, labels: dict, namespace: str = "gridlink") -> bool:
    """Whether one NetworkPolicy peer (podSelector and/or namespaceSelector, matchLabels only) covers a pod."""
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    if "namespaceSelector" in peer:
        spaces = peer["namespaceSelector"].get("matchLabels", {})
        if not all({"kubernetes.io/metadata.name": namespace}.get(k) == v for k, v in spaces.items()):
            return False
    return all(labels.get(k) == v for k, v in pods.items())


def port_allowed(ports: list[dict], port: int | str) -> bool:
    return any(
        p["port"] == port or (isinstance(port, int) and p["port"] <= port <= p.get("endPort", -1)) for p in ports
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
@pytest.mark.parametrize(("service", "url_of"), [("dispatch", dispatch_url), ("notification", notification_url)])
def test_console_calls_staff_apis_through_their_services(overlay, service, url_of):
    """CONSOLE_DISPATCH_URL and CONSOLE_NOTIFICATION_URL name those services' Services and ports, and both
    NetworkPolicies let the console's calls through (and no one else's)."""
    env = container_env(overlay, container(objects(overlay, "Deployment")["console"]), {})
    target = urlsplit(url_of(load_settings("console", DEFAULT_PORTS["console"], env)))
    assert target.scheme == "http" and target.hostname == service
    found = objects(overlay, "Service")[service]
    assert target.port == found["spec"]["ports"][0]["port"] == DEFAULT_PORTS[service]
    console_pod = objects(overlay, "Deployment")["console"]["spec"]["template"]["metadata"]["labels"]
    service_pod = objects(overlay, "Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    assert all(service_pod.get(k) == v for k, v in found["spec"]["selector"].items())
    outbound = objects(overlay, "NetworkPolicy")["console"]["spec"]["egress"]
    assert any(
        any(admits(peer, service_pod) for peer in rule["to"]) and port_allowed(rule["ports"], target.port)
        for rule in outbound
    ), f"the console's egress must reach {service}'s HTTP port"
    inbound = objects(overlay, "NetworkPolicy")[service]["spec"]["ingress"]
    assert any(
        any(admits(peer, console_pod) for peer in rule["from"]) and port_allowed(rule["ports"], "http")
        for rule in inbound
    ), f"{service} must accept the console's calls"
    assert not any(
        any(admits(peer, {"app": "browser"}, namespace="default") for peer in rule["from"]) for rule in inbound
    ), "the policy is not open to everyone"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_staff_browsers_reach_the_console_through_its_ingress(overlay):
    """The Ingress sends staff browsers (via ingress-nginx, which the console's policy admits) to the console's
    port."""
    ingress = objects(overlay, "Ingress")["console"]["spec"]
    assert ingress["ingressClassName"] == "nginx"
    (rule,) = ingress["rules"]
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/" and path["backend"]["service"] == {"name": "console", "port": {"name": "http"}}
    assert objects(overlay, "Service")["console"]["spec"]["ports"][0]["name"] == "http"
    console_in = objects(overlay, "NetworkPolicy")["console"]["spec"]["ingress"]
    controller = {"app.kubernetes.io/name": "ingress-nginx"}
    assert any(
        any(admits(peer, controller, namespace="ingress-nginx") for peer in r["from"])
        and port_allowed(r["ports"], "http")
        for r in console_in
    )
    if overlay == "prod":
        # Staff tokens travel in the console's cookie: production serves it on a named host over TLS only.
        (tls,) = ingress["tls"]
        assert tls["hosts"] == [rule["host"]] and tls["secretName"] == "gridlink-console-tls"


def referenced_secrets(overlay: str) -> set[str]:
    names = set()

    def walk(node):
        if isinstance(node, dict):
            for key in ("secretKeyRef", "passwordSecret", "accessKeyId", "secretAccessKey"):
                if isinstance(node.get(key), dict):
                    names.add(node[key]["name"])
            if isinstance(node.get("tls"), dict) and "secretName" in node["tls"]:
                names.add(node["tls"]["secretName"])
            if isinstance(node.get("tls"), list):  # an Ingress's certificates
                names.update(entry["secretName"] for entry in node["tls"] if "secretName" in entry)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(list(rendered(overlay)))
    return names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_secret_referenced_is_generated_by_an_operator_the_overlay_or_documented(overlay):
    operator_made = {f"{name}-user-credentials" for name in objects(overlay, "User")}
    provided = set(objects(overlay, "Secret")) | operator_made
    missing = referenced_secrets(overlay) - provided
    if overlay == "dev":
        assert missing == set(), "dev must apply on an empty cluster"
    assert missing <= EXTERNAL_SECRETS
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    for name in missing:
        assert name in guide or name.replace("gridlink-db-" + name.split("-")[-1], "gridlink-db-<service>") in guide


def test_broker_is_three_nodes_with_quorum_queues_by_default():
    cluster = objects("prod", "RabbitmqCluster")["gridlink-rabbitmq"]["spec"]
    assert cluster["replicas"] == 3
    config = dict(
        line.split(" = ", 1) for line in cluster["rabbitmq"]["additionalConfig"].splitlines() if " = " in line
    )
    assert config["default_queue_type"] == "quorum"
    assert "rabbitmq_prometheus" in cluster["rabbitmq"]["additionalPlugins"]
    vhost = objects("prod", "Vhost")["gridlink"]["spec"]
    assert vhost == {**vhost, "name": "gridlink", "defaultQueueType": "quorum"}
    assert all(q["spec"]["type"] == "quorum" for q in objects("prod", "Queue").values())


# Kubernetes object names use the department with "-"; broker names use its code (the contracts' `partner.<code>`).
PARTNERS = {"court": "court", "labour-arbitration": "labour_arbitration", "legal-aid": "legal_aid"}
PARTNERS["city-management"] = "city_management"
# The services with an event exchange (`<service>.events`) are those that publish contracted events; the console
# only consumes, so partners get nothing of it.
PUBLISHERS = tuple(service for service in SERVICES if service in {c.source for c in CONTRACTS.values()})
# Names GridLink's own services use on the broker (nameko consumer queues, retries, dead letters).
SERVICE_QUEUES = (
    "evt-intake-report_accepted--dispatch.on_report_accepted",
    "evt-intake-report_accepted--dispatch.on_report_accepted.retry.5000ms",
    "dispatch.dead-letter",
    "intake.events",
)


def matches(pattern: str, name: str) -> bool:
    # RabbitMQ searches with the regex (unanchored); ours are anchored, so search and fullmatch agree.
    return re.search(pattern, name) is not None


def personal(event_type: str) -> bool:
    return event_type.endswith("_contact_registered")


def publishers(contract) -> set[str]:
    return {contract.source, *getattr(contract, "sources", ())}


@pytest.mark.parametrize("partner", PARTNERS)
def test_partner_may_configure_and_write_only_its_own_names(partner):
    perms = objects("prod", "Permission")[f"{partner}-partner"]["spec"]["permissions"]
    code = PARTNERS[partner]
    others = [c for c in PARTNERS.values() if c != code]
    for kind in ("configure", "write"):
        assert matches(perms[kind], f"partner.{code}.inbox")
        assert matches(perms[kind], f"partner.{code}.events")
        for name in (*SERVICE_QUEUES, *(f"partner.{o}.inbox" for o in others), f"partner.{code}"):
            assert not matches(perms[kind], name), (kind, name)
    for source in SERVICES:
        assert matches(perms["read"], f"{source}.events") is (source in PUBLISHERS), source
    assert matches(perms["read"], f"partner.{code}.inbox")
    for name in (
        *SERVICE_QUEUES[:3],
        *(f"partner.{o}.inbox" for o in others),
        *(f"partner.{o}.events" for o in others),
    ):
        assert not matches(perms["read"], name), name


@pytest.mark.parametrize("partner", PARTNERS)
def test_partner_binds_every_event_type_except_personal_data_and_no_wildcards(partner):
    topic = {
        t["spec"]["permissions"]["exchange"]: t["spec"]["permissions"]
        for t in objects("prod", "TopicPermission").values()
        if t["spec"]["userReference"]["name"] == f"{partner}-partner"
    }
    code = PARTNERS[partner]
    assert set(topic) == {f"{s}.events" for s in PUBLISHERS} | {f"partner.{code}.events"}
    personal_types = {t for (t, _v) in CONTRACTS if personal(t)}
    assert {"reporter_contact_registered", "party_contact_registered"} <= personal_types
    for (event_type, _version), contract in {**CONTRACTS, **getattr(registry, "PARTNER_CONTRACTS", {})}.items():
        if contract.source in SERVICES:
            read = topic[f"{contract.source}.events"]["read"]
            assert matches(read, event_type) is not personal(event_type), event_type
        if f"partner.{code}" in publishers(contract):
            assert matches(topic[f"partner.{code}.events"]["write"], event_type), event_type
    for source in PUBLISHERS:
        permissions = topic[f"{source}.events"]
        for key in ("#", "*", "case.#", "reporter_contact_registered", ""):
            assert not matches(permissions["read"], key), key
        assert not matches(permissions["write"], "case_assigned")


def test_every_partner_that_publishes_in_the_contracts_has_a_broker_user():
    partner_contracts = getattr(registry, "PARTNER_CONTRACTS", {})
    codes = {s.split(".", 1)[1] for c in partner_contracts.values() for s in publishers(c) if s.startswith("partner.")}
    assert codes <= set(PARTNERS.values())
    users = set(objects("prod", "User"))
    assert users == {"gridlink-services", *(f"{department}-partner" for department in PARTNERS)}


def test_partner_bindings_name_real_events_on_the_right_exchange_and_their_own_inbox():
    bindings = objects("prod", "Binding").values()
    assert {b["spec"]["destination"] for b in bindings} == {f"partner.{c}.inbox" for c in PARTNERS.values()}
    sources = {t: c.source for (t, _v), c in CONTRACTS.items()}
    departments = {code: department for department, code in PARTNERS.items()}
    for binding in bindings:
        spec = binding["spec"]
        assert not personal(spec["routingKey"])
        assert spec["source"] == f"{sources[spec['routingKey']]}.events", spec
        owner = departments[spec["destination"].split(".")[1]]
        assert binding["metadata"]["name"].startswith(f"{owner}-partner-")


@pytest.mark.parametrize("partner", PARTNERS)
def test_partner_inbox_dead_letters_into_its_own_queue(partner):
    code = PARTNERS[partner]
    policies = [
        p["spec"] for p in objects("prod", "Policy").values() if matches(p["spec"]["pattern"], f"partner.{code}.inbox")
    ]
    assert len(policies) == 1
    (policy,) = policies
    assert not matches(policy["pattern"], f"partner.{code}.dead-letter")
    assert policy["definition"]["dead-letter-routing-key"] == f"partner.{code}.dead-letter"
    queues = {q["spec"]["name"] for q in objects("prod", "Queue").values()}
    assert policy["definition"]["dead-letter-routing-key"] in queues
    assert policy["definition"]["dead-letter-exchange"] == ""  # the default exchange routes by queue name


# Connections PostgreSQL keeps for what is not a service: superuser (3 by default), backups, migration Jobs, the
# exporter and an operator's psql.
RESERVED_CONNECTIONS = 20


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_at_the_autoscalers_maximum_fits_in_postgresqls_connections(overlay):
    max_connections = int(
        objects(overlay, "Cluster")["gridlink-postgres"]["spec"]["postgresql"]["parameters"]["max_connections"]
    )
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
        for h in objects(overlay, "HorizontalPodAutoscaler").values()
    }
    needed = 0
    for service, deployment in objects(overlay, "Deployment").items():
        settings = load_settings(service, DEFAULT_PORTS[service], container_env(overlay, container(deployment), {}))
        needed += hpas.get(service, deployment["spec"].get("replicas", 1)) * (
            settings.db_pool_size + settings.db_max_overflow
        )
    assert needed + RESERVED_CONNECTIONS <= max_connections, f"{needed} connections at full scale"
