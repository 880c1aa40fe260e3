"""`o2o ops status` against a small local HTTP server standing in for the Kubernetes API server
(none can run on these machines). It answers the three paths the command reads, with bodies in
the shapes the API server returns (DeploymentList, JobList as served by apps/v1 and batch/v1,
written after the API reference and `kubectl get -o json` output, trimmed to the fields that
matter plus the usual metadata), and the gateway's /readyz as the service proxy passes it on.
The command runs as an operator runs it: through a kubeconfig pointing at that server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from o2o_runtime.cli import main

NAMESPACE = "retail"
RELEASE = "o2o"
TOKEN = "kubeconfig-token"
STAMP = "2026-12-01T09:30:00Z"


def labels(part: str, role: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/instance": RELEASE,
        "app.kubernetes.io/managed-by": "Helm",
        "app.kubernetes.io/name": "o2o",
        "app.kubernetes.io/part-of": "o2o",
        "app.kubernetes.io/version": "0.1.0",
        "helm.sh/chart": "o2o-0.1.0",
        "o2o.platform/part": part,
        "o2o.platform/role": role,
    }


def deployment(part: str, *, ready: int = 2, desired: int = 2, revision: int = 3, tag: str = "1.4.2") -> dict[str, Any]:
    name = f"{RELEASE}-{part}"
    selector = {
        k: v
        for k, v in labels(part, "server").items()
        if k not in ("app.kubernetes.io/managed-by", "app.kubernetes.io/version", "helm.sh/chart")
    }
    status: dict[str, Any] = {
        "observedGeneration": 4,
        "replicas": desired,
        "updatedReplicas": desired,
        "availableReplicas": ready,
        "conditions": [
            {
                "type": "Available",
                "status": "True" if ready >= desired else "False",
                "lastUpdateTime": STAMP,
                "lastTransitionTime": STAMP,
                "reason": "MinimumReplicasAvailable" if ready >= desired else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability.",
            },
            {
                "type": "Progressing",
                "status": "True",
                "lastUpdateTime": STAMP,
                "lastTransitionTime": STAMP,
                "reason": "NewReplicaSetAvailable",
                "message": f'ReplicaSet "{name}-6d9f7c8b5d" has successfully progressed.',
            },
        ],
    }
    if ready:
        status["readyReplicas"] = ready  # the API server leaves out a zero count
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"5f0c6a1e-0000-4000-8000-{abs(hash(part)) % 10**12:012d}",
            "resourceVersion": "918273",
            "generation": 4,
            "creationTimestamp": STAMP,
            "labels": labels(part, "server"),
            "annotations": {
                "deployment.kubernetes.io/revision": "4",
                "meta.helm.sh/release-name": RELEASE,
                "meta.helm.sh/release-namespace": NAMESPACE,
                "o2o.platform/revision": str(revision),
            },
        },
        "spec": {
            "replicas": desired,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": labels(part, "server")},
                "spec": {
                    "containers": [
                        {
                            "name": part,
                            "image": f"registry.example.com/o2o/{part}:{tag}",
                            "imagePullPolicy": "IfNotPresent",
                            "resources": {
                                "limits": {"cpu": "1", "memory": "512Mi"},
                                "requests": {"cpu": "250m", "memory": "256Mi"},
                            },
                        }
                    ],
                    "restartPolicy": "Always",
                    "serviceAccountName": name,
                },
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "revisionHistoryLimit": 5,
            "progressDeadlineSeconds": 600,
        },
        "status": status,
    }


def job(part: str, *, revision: int = 3, state: str = "succeeded") -> dict[str, Any]:
    conditions: list[dict[str, Any]] = []
    status: dict[str, Any] = {"startTime": STAMP, "active": 0, "ready": 0, "terminating": 0}
    if state == "succeeded":
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "lastProbeTime": STAMP, "lastTransitionTime": STAMP},
            {"type": "Complete", "status": "True", "lastProbeTime": STAMP, "lastTransitionTime": STAMP},
        ]
        status |= {"succeeded": 1, "completionTime": STAMP}
    elif state == "failed":
        conditions = [
            {
                "type": "FailureTarget",
                "status": "True",
                "lastProbeTime": STAMP,
                "lastTransitionTime": STAMP,
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            },
            {
                "type": "Failed",
                "status": "True",
                "lastProbeTime": STAMP,
                "lastTransitionTime": STAMP,
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
            },
        ]
        status |= {"failed": 7}
    else:
        status |= {"active": 1, "ready": 1}
    if conditions:
        status["conditions"] = conditions
    name = f"{RELEASE}-{part}-migrate"
    return {
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": f"7a1b2c3d-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",
            "resourceVersion": "918301",
            "generation": 1,
            "creationTimestamp": STAMP,
            "labels": labels(part, "migrate"),
            "annotations": {
                "helm.sh/hook": "pre-install,pre-upgrade",
                "helm.sh/hook-delete-policy": "before-hook-creation",
                "helm.sh/hook-weight": "0",
                "o2o.platform/revision": str(revision),
            },
        },
        "spec": {
            "parallelism": 1,
            "completions": 1,
            "backoffLimit": 6,
            "activeDeadlineSeconds": 600,
            "completionMode": "NonIndexed",
            "suspend": False,
            "podReplacementPolicy": "TerminatingOrFailed",
            "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "7a1b2c3d"}},
            "template": {
                "metadata": {"labels": labels(part, "migrate")},
                "spec": {
                    "containers": [
                        {
                            "name": "migrate",
                            "image": f"registry.example.com/o2o/{part}:1.4.2",
                            "command": ["o2o", "migrate", part],
                        }
                    ],
                    "restartPolicy": "Never",
                },
            },
        },
        "status": status,
    }


def listing(kind: str, api_version: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": api_version, "metadata": {"resourceVersion": "918400"}, "items": items}


class FakeApiServer:
    """Serves what is set on it; records each request's path, query and bearer token."""

    def __init__(self) -> None:
        self.deployments = [deployment(p) for p in ("gateway", "identity", "receipts", "webhooks")]
        self.jobs = [job(p) for p in ("identity", "receipts", "webhooks")]
        self.readyz: tuple[int, dict[str, Any]] = (
            200,
            {"ready": True, "upstreams": {"identity": "SERVING", "receipts": "SERVING", "webhooks": "SERVING"}},
        )
        self.refuse: int | None = None
        self.requests: list[tuple[str, dict[str, list[str]], str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                path = unquote(url.path)  # as the API server reads it: o2o-gateway%3Ahttp is o2o-gateway:http
                server.requests.append((path, parse_qs(url.query), self.headers.get("Authorization", "")))
                status, body = server.answer(path)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *_args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def answer(self, path: str) -> tuple[int, Any]:
        if self.refuse is not None:
            return self.refuse, {
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": f'deployments.apps is forbidden: User "ops" cannot list resource "deployments" in API group "apps" in the namespace "{NAMESPACE}"',
                "reason": "Forbidden",
                "details": {"group": "apps", "kind": "deployments"},
                "code": self.refuse,
            }
        if path == f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments":
            return 200, listing("DeploymentList", "apps/v1", self.deployments)
        if path == f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs":
            return 200, listing("JobList", "batch/v1", self.jobs)
        if path == f"/api/v1/namespaces/{NAMESPACE}/services/{RELEASE}-gateway:http/proxy/readyz":
            return self.readyz
        return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    server = FakeApiServer()
    thread = threading.Thread(target=server.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()


@pytest.fixture
def kubeconfig(tmp_path: Path, api: FakeApiServer) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "shop", "cluster": {"server": api.url}}],
                "users": [{"name": "ops", "user": {"token": TOKEN}}],
                "contexts": [{"name": "shop", "context": {"cluster": "shop", "user": "ops", "namespace": NAMESPACE}}],
                "current-context": "shop",
            }
        )
    )
    return path


def status(kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["ops", "status", "--namespace", NAMESPACE, "--release", RELEASE, "--kubeconfig", str(kubeconfig)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def row(out: str, part: str) -> str:
    return next(line for line in out.splitlines() if line.startswith(f"{part} "))


def test_a_ready_release_reports_every_part_and_exits_zero(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = status(kubeconfig, capsys)
    assert code == 0, out
    assert out.splitlines()[0] == f"release {RELEASE} in namespace {NAMESPACE}: ready"
    for part in ("identity", "receipts", "webhooks"):
        assert row(out, part).split()[:3] == [part, "2/2", f"registry.example.com/o2o/{part}:1.4.2"]
        assert row(out, part).endswith("succeeded for revision 3")
    assert row(out, "gateway").split()[:3] == ["gateway", "2/2", "registry.example.com/o2o/gateway:1.4.2"]
    assert "gateway readiness: ready (identity SERVING, receipts SERVING, webhooks SERVING)" in out
    # It reads what the chart labels, with the kubeconfig's credentials.
    selectors = {path: query["labelSelector"][0] for path, query, _ in api.requests if "labelSelector" in query}
    assert selectors == {
        f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments": "app.kubernetes.io/instance=o2o,app.kubernetes.io/part-of=o2o,o2o.platform/role=server",
        f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs": "app.kubernetes.io/instance=o2o,app.kubernetes.io/part-of=o2o,o2o.platform/role=migrate",
    }
    assert {auth for _, _, auth in api.requests} == {f"Bearer {TOKEN}"}


def test_missing_replicas_make_it_not_ready(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.deployments[2] = deployment("receipts", ready=1, desired=3)
    api.deployments[3] = deployment("webhooks", ready=0, desired=2)
    code, out, _ = status(kubeconfig, capsys)
    assert code == 1
    assert "NOT READY" in out.splitlines()[0]
    assert row(out, "receipts").split()[1] == "1/3"
    assert row(out, "webhooks").split()[1] == "0/2"


def test_a_migration_that_failed_for_the_new_revision_is_reported(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The upgrade to revision 4 stopped at receipts' migration; the pods still run revision 3.
    api.jobs[1] = job("receipts", revision=4, state="failed")
    code, out, _ = status(kubeconfig, capsys)
    assert code == 1
    assert row(out, "receipts").endswith("failed for revision 4 (pods at 3)")
    assert row(out, "identity").endswith("succeeded for revision 3")


def test_a_migration_still_running_or_missing_is_not_ready(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.jobs = [job("identity", state="running"), job("receipts")]
    code, out, _ = status(kubeconfig, capsys)
    assert code == 1
    assert row(out, "identity").endswith("running for revision 3")
    assert row(out, "webhooks").endswith("no migration Job")


def test_the_gateways_own_readiness_counts(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.readyz = (
        503,
        {"ready": False, "upstreams": {"identity": "SERVING", "receipts": "NOT_SERVING", "webhooks": "SERVING"}},
    )
    code, out, _ = status(kubeconfig, capsys)
    assert code == 1
    assert "gateway readiness: NOT READY (identity SERVING, receipts NOT_SERVING, webhooks SERVING)" in out


def test_an_api_server_that_refuses_exits_two(
    api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    api.refuse = 403
    code, out, err = status(kubeconfig, capsys)
    assert code == 2
    assert out == ""
    assert f"cannot read release {RELEASE} in {NAMESPACE}" in err
    assert "403" in err


def test_no_release_there_exits_two(api: FakeApiServer, kubeconfig: Path, capsys: pytest.CaptureFixture[str]) -> None:
    api.deployments = []
    code, _, err = status(kubeconfig, capsys)
    assert code == 2
    assert f"no part of release {RELEASE} found in namespace {NAMESPACE}" in err
