"""`o2o ops status`: how a release of the chart is doing, read from the Kubernetes API.

Per part (each service and the gateway): ready replicas against desired, the image it runs,
whether its migration Job succeeded for the revision the Deployment was applied by, and the
gateway's own readiness (its /readyz, through the API server's service proxy). What to read is
found by the chart's labels; the revision is the chart's `o2o.platform/revision` annotation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubernetes import client

REVISION = "o2o.platform/revision"
PART = "o2o.platform/part"


@dataclass(frozen=True)
class Migration:
    revision: str
    state: str  # succeeded, failed, running


@dataclass(frozen=True)
class PartStatus:
    part: str
    ready: int
    desired: int
    updated: int
    image: str
    revision: str
    migration: Migration | None

    @property
    def migration_ok(self) -> bool:
        # The gateway has no database, hence no migration.
        if self.part == "gateway":
            return True
        return self.migration is not None and self.migration == Migration(self.revision, "succeeded")

    @property
    def ok(self) -> bool:
        return self.desired > 0 and self.ready >= self.desired and self.updated >= self.desired and self.migration_ok

    def migration_text(self) -> str:
        if self.part == "gateway":
            return "-"
        if self.migration is None:
            return "no migration Job"
        if self.migration.revision != self.revision:
            return f"{self.migration.state} for revision {self.migration.revision} (pods at {self.revision})"
        return f"{self.migration.state} for revision {self.migration.revision}"


@dataclass(frozen=True)
class GatewayReadiness:
    ready: bool
    upstreams: dict[str, str]
    error: str = ""


@dataclass(frozen=True)
class ReleaseStatus:
    namespace: str
    release: str
    parts: list[PartStatus]
    gateway: GatewayReadiness | None

    @property
    def ok(self) -> bool:
        gateway_ok = self.gateway is None or self.gateway.ready
        return bool(self.parts) and all(p.ok for p in self.parts) and gateway_ok

    def lines(self) -> list[str]:
        out = [f"release {self.release} in namespace {self.namespace}: {'ready' if self.ok else 'NOT READY'}"]
        header = ("part", "ready", "image", "migration")
        rows = [
            (
                p.part,
                f"{p.ready}/{p.desired}" + ("" if p.updated >= p.desired else f" ({p.updated} updated)"),
                p.image,
                p.migration_text(),
            )
            for p in self.parts
        ]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            out.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        if self.gateway is not None:
            if self.gateway.error:
                out.append(f"gateway readiness: unknown ({self.gateway.error})")
            else:
                upstreams = ", ".join(f"{name} {state}" for name, state in sorted(self.gateway.upstreams.items()))
                out.append(f"gateway readiness: {'ready' if self.gateway.ready else 'NOT READY'} ({upstreams})")
        return out


def _selector(release: str, role: str) -> str:
    return f"app.kubernetes.io/instance={release},app.kubernetes.io/part-of=o2o,o2o.platform/role={role}"


def _migration(job: Any) -> Migration:
    annotations = job.metadata.annotations or {}
    conditions = {c.type: c.status for c in (job.status.conditions or [])}
    if conditions.get("Complete") == "True" or (job.status.succeeded or 0) > 0:
        state = "succeeded"
    elif conditions.get("Failed") == "True":
        state = "failed"
    else:
        state = "running"
    return Migration(str(annotations.get(REVISION, "?")), state)


def _gateway_readiness(core: client.CoreV1Api, namespace: str, service: str) -> GatewayReadiness:
    try:
        # The raw answer: the client would turn a JSON body into a Python repr string.
        response: Any = core.connect_get_namespaced_service_proxy_with_path(
            f"{service}:http", namespace, "readyz", _preload_content=False
        )
        status, body = int(response.status), response.data
    except client.ApiException as exc:
        status, body = int(exc.status or 0), exc.body
    # 503 is the gateway saying an upstream is not SERVING: its body says which.
    if status not in (200, 503):
        return GatewayReadiness(False, {}, f"HTTP {status}")
    try:
        answer = json.loads(body)
        return GatewayReadiness(bool(answer["ready"]), {str(k): str(v) for k, v in answer["upstreams"].items()})
    except (ValueError, KeyError, TypeError, AttributeError):
        return GatewayReadiness(False, {}, "unexpected /readyz answer")


def collect(api: client.ApiClient, namespace: str, release: str) -> ReleaseStatus:
    apps, batch, core = client.AppsV1Api(api), client.BatchV1Api(api), client.CoreV1Api(api)
    # Read as plain attributes: every field of the generated models is optional.
    deployments: list[Any] = apps.list_namespaced_deployment(
        namespace, label_selector=_selector(release, "server")
    ).items
    jobs: list[Any] = batch.list_namespaced_job(namespace, label_selector=_selector(release, "migrate")).items
    migrations = {(job.metadata.labels or {}).get(PART, ""): _migration(job) for job in jobs}
    parts = []
    gateway = None
    for deployment in sorted(deployments, key=lambda d: str(d.metadata.name)):
        part = str((deployment.metadata.labels or {}).get(PART, deployment.metadata.name))
        status = deployment.status
        parts.append(
            PartStatus(
                part=part,
                ready=(status.ready_replicas or 0) if status else 0,
                desired=deployment.spec.replicas if deployment.spec.replicas is not None else 1,
                updated=(status.updated_replicas or 0) if status else 0,
                image=deployment.spec.template.spec.containers[0].image or "",
                revision=str((deployment.metadata.annotations or {}).get(REVISION, "?")),
                migration=migrations.get(part),
            )
        )
        if part == "gateway":
            gateway = _gateway_readiness(core, namespace, str(deployment.metadata.name))
    return ReleaseStatus(namespace, release, parts, gateway)
