"""The endpoints every service serves for Kubernetes and Prometheus: /healthz, /readyz and /metrics."""

from __future__ import annotations

from werkzeug.wrappers import Response

from gridlink.runtime import metrics
from gridlink.runtime.entrypoints import http, json_response


class OpsEndpoints:
    """Mixed into every service class; it expects the service's `Storage` dependency to be named `storage`."""

    @http("GET", "/healthz")
    def healthz(self, request):
        # Alive means the process answers; it does not depend on the broker or the database.
        return json_response({"status": "ok"})

    @http("GET", "/readyz")
    def readyz(self, request):
        checks = self.storage.readiness()
        ready = all(v == "ok" for v in checks.values())
        return json_response({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    @http("GET", "/metrics")
    def metrics(self, request):
        body, content_type = metrics.exposition()
        return Response(body, status=200, headers={"Content-Type": content_type})
