"""The endpoints every service serves for Kubernetes and Prometheus: /healthz, /readyz and /metrics."""

from __future__ import annotations

from datetime import datetime

from werkzeug.wrappers import Response

from gridlink.runtime import metrics
from gridlink.runtime.audit import query as audit_query
from gridlink.runtime.dependencies import StaffAuth
from gridlink.runtime.entrypoints import ApiError, http, json_response


class OpsEndpoints:
    """Mixed into every service class; it expects the service's `Storage` dependency to be named `storage`."""

    # Its own name: a service may call its staff authentication `auth` and give it another shape (the console does).
    ops_auth = StaffAuth()

    @http("GET", "/healthz")
    def healthz(self, request):
        # Alive means the process answers; it does not depend on the broker or the database.
        return json_response({"status": "ok"})

    @http("GET", "/readyz")
    def readyz(self, request):
        checks = self.storage.readiness()
        ready = all(v == "ok" for v in checks.values())
        return json_response({"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503)

    @http("GET", "/audit", audit=True)
    def audit(self, request):
        """The audit trail, for district operators and administrators; reading it is itself audited."""
        self.ops_auth.require(request, "district_operator")
        try:
            since = datetime.fromisoformat(request.args["since"]) if request.args.get("since") else None
            limit = min(int(request.args.get("limit", 200)), 1000)
        except ValueError as exc:
            raise ApiError(f"bad query parameter: {exc}") from None
        rows = audit_query(self.storage.database, request.args.get("actor"), since, limit)
        return json_response({"records": rows})

    @http("GET", "/metrics")
    def metrics(self, request):
        body, content_type = metrics.exposition()
        return Response(body, status=200, headers={"Content-Type": content_type})
