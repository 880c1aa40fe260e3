"""The Helm chart helm/o2o, checked without a cluster (none can run on these machines): `helm lint
--strict`, `helm template` with the default values, the production example and external
datastores, every rendered manifest validated against the Kubernetes schemas of the supported
versions (kubernetes-validate, strict), then assertions on the rendered objects for what the
platform promises: every service with its own database, migrations as hooks, probes, a
restricted security context everywhere, and network policies that allow only what the
architecture draws.

helm comes from `make tools` (.tools/helm, pinned in the Makefile)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml
from o2o_gateway.settings import GatewaySettings
from o2o_identity.settings import IdentitySettings
from o2o_runtime import registry
from o2o_runtime.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "helm" / "o2o"
HELM = ROOT / ".tools" / "helm"
EXAMPLES = {
    "default": [],
    "production": ["-f", "examples/production.yaml"],
    "external": ["-f", "examples/external-datastores.yaml"],
}
# The oldest Kubernetes the chart supports (Chart.yaml kubeVersion), one in the middle, the newest schemas.
KUBE_VERSIONS = ("1.30.0", "1.33.0", "1.37.0")
RELEASE = "o2o"
NAMESPACE = "retail"
SERVICES = sorted(p.name for p in (ROOT / "services").iterdir() if (p / "pyproject.toml").exists())
WORKLOADS = ("Deployment", "StatefulSet", "Job")

Manifest = dict[str, Any]


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM.exists(), "helm is missing: run `make tools`"
    return subprocess.run([str(HELM), *args], cwd=CHART, capture_output=True, text=True, timeout=60)


def render_text(*values: str) -> str:
    result = helm("template", RELEASE, ".", "--namespace", NAMESPACE, "--kube-version", "1.33.0", *values)
    assert result.returncode == 0, result.stderr
    return result.stdout


@cache
def rendered(example: str) -> tuple[Manifest, ...]:
    return tuple(doc for doc in yaml.safe_load_all(render_text(*EXAMPLES[example])) if doc)


@cache
def values(example: str) -> Manifest:
    base: Manifest = yaml.safe_load((CHART / "values.yaml").read_text())
    if EXAMPLES[example]:
        overlay = yaml.safe_load((CHART / EXAMPLES[example][1]).read_text())
        base = merged(base, overlay)
    return base


def merged(base: Manifest, overlay: Manifest) -> Manifest:
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def service_values(example: str, name: str) -> Manifest:
    v = values(example)
    return merged(v["serviceDefaults"], v["services"][name])


def enabled(example: str) -> list[str]:
    return [name for name, svc in values(example)["services"].items() if svc["enabled"]]


def of_kind(example: str, kind: str) -> list[Manifest]:
    return [doc for doc in rendered(example) if doc["kind"] == kind]


def named(example: str, kind: str, name: str) -> Manifest:
    found = [doc for doc in of_kind(example, kind) if doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name} rendered {len(found)} times"
    return found[0]


def full(part: str) -> str:
    return f"{RELEASE}-{part}"


def pod_spec(workload: Manifest) -> Manifest:
    spec: Manifest = workload["spec"]["template"]["spec"]
    return spec


def containers(workload: Manifest) -> list[Manifest]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def env_of(container: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container.get("env", [])}


def workloads(example: str) -> list[Manifest]:
    return [doc for doc in rendered(example) if doc["kind"] in WORKLOADS]


def hook(doc: Manifest) -> str:
    return str(doc["metadata"].get("annotations", {}).get("helm.sh/hook", ""))


# ---- the chart as a whole -----------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_lint_strict(example: str) -> None:
    result = helm("lint", "--strict", ".", *EXAMPLES[example])
    assert result.returncode == 0, result.stdout + result.stderr


def test_renders_validate_against_the_kubernetes_schemas(monkeypatch: pytest.MonkeyPatch) -> None:
    # kubernetes-validate's own check (what `kubernetes-validate --strict` runs per resource),
    # in this process with each schema file read once: the CLI rereads them for every resource.
    monkeypatch.setattr(kubernetes_validate, "schema_contents", cache(kubernetes_validate.schema_contents))
    unchecked = set()
    for example in EXAMPLES:
        for doc in rendered(example):
            for version in KUBE_VERSIONS:
                where = f"{example}: {doc['kind']}/{doc['metadata']['name']} on Kubernetes {version}"
                try:
                    kubernetes_validate.validate(doc, version, strict=True)
                except kubernetes_validate.SchemaNotFoundError:
                    unchecked.add(doc["kind"])
                except kubernetes_validate.ValidationError as error:
                    pytest.fail(f"{where}: {error.message}")
    # Only the optional ServiceMonitor (a custom resource) has no schema to check against.
    assert unchecked == {"ServiceMonitor"}


def test_the_validator_refuses_what_a_cluster_would() -> None:
    deployment = dict(named("default", "Deployment", full("gateway")))
    deployment["spec"] = {**deployment["spec"], "replicaCount": 2}
    with pytest.raises(kubernetes_validate.ValidationError, match="replicaCount"):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


def test_every_service_in_services_is_in_the_chart_with_its_ports() -> None:
    chart = values("default")["services"]
    for name in SERVICES:
        assert name in chart, f"services/{name} exists: add it to helm/o2o/values.yaml"
        definition = registry.definition(name)
        assert chart[name]["port"] == definition.default_port, name
        assert chart[name]["metricsPort"] == definition.default_metrics_port, name
        assert chart[name]["enabled"], f"services/{name} exists: enable it in helm/o2o/values.yaml"
        named("default", "Deployment", full(name))
    # The ports the architecture page gives them.
    assert {n: chart[n]["port"] for n in ("loyalty", "positioning", "recs")} == {
        "loyalty": 50053,
        "positioning": 50054,
        "recs": 50055,
    }
    gateway = GatewaySettings()
    assert values("default")["gateway"]["port"] == gateway.http_port
    assert values("default")["gateway"]["metricsPort"] == gateway.metrics_port


@pytest.mark.parametrize("example", EXAMPLES)
def test_each_service_and_the_gateway_has_its_objects(example: str) -> None:
    for part in [*enabled(example), "gateway"]:
        deployment = named(example, "Deployment", full(part))
        account = named(example, "ServiceAccount", full(part))
        assert account["automountServiceAccountToken"] is False
        assert pod_spec(deployment)["serviceAccountName"] == full(part)
        assert pod_spec(deployment)["automountServiceAccountToken"] is False
        service = named(example, "Service", full(part))
        assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
        hpa = named(example, "HorizontalPodAutoscaler", full(part))
        assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": full(part)}
        assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        pdb = named(example, "PodDisruptionBudget", full(part))
        assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        zones = [c["topologyKey"] for c in pod_spec(deployment)["topologySpreadConstraints"]]
        assert "topology.kubernetes.io/zone" in zones
        container = pod_spec(deployment)["containers"][0]
        assert container["image"].split(":")[0].endswith(f"o2o/{part}")
        assert container["resources"]["requests"]["cpu"], "the HPA scales on CPU: requests are its measure"
        assert container["resources"]["limits"]


def test_the_production_example_is_highly_available() -> None:
    for part in [*enabled("production"), "gateway"]:
        assert named("production", "HorizontalPodAutoscaler", full(part))["spec"]["minReplicas"] >= 3
    ingress = named("production", "Ingress", full("gateway"))
    assert ingress["spec"]["tls"] == [{"hosts": ["api.example.com"], "secretName": "api-example-com-tls"}]
    for workload in of_kind("production", "Deployment"):
        for container in pod_spec(workload)["containers"]:
            assert env_of(container)["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"].startswith("http://otel-collector")
    monitors = {m["metadata"]["name"] for m in of_kind("production", "ServiceMonitor")}
    assert monitors == {full(part) for part in [*enabled("production"), "gateway"]}
    assert not of_kind("production", "Secret"), "production reads existing Secrets only"


# ---- pods: security, probes, termination --------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_pod_and_container_is_restricted(example: str) -> None:
    assert workloads(example)
    for workload in workloads(example):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] > 0, where
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), where
        # The volume types the "restricted" Pod Security Standard allows (no hostPath).
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= {"emptyDir", "configMap", "secret", "persistentVolumeClaim"}, where
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False, where
            assert context["privileged"] is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"] == {"drop": ["ALL"]}, where
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_platforms_pods_write_only_to_an_emptydir_tmp(example: str) -> None:
    for workload in workloads(example):
        if workload["metadata"]["labels"]["o2o.platform/role"] not in ("server", "migrate"):
            continue
        volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod_spec(workload)["containers"][0]["volumeMounts"]}
        assert mounts == {"/tmp": "tmp"}
        assert volumes["tmp"]["emptyDir"]["sizeLimit"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_services_have_grpc_probes_on_the_health_service(example: str) -> None:
    for name in enabled(example):
        port = service_values(example, name)["port"]
        container = pod_spec(named(example, "Deployment", full(name)))["containers"][0]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["grpc"] == {"port": port}, (name, probe)
        # A database outage turns health NOT_SERVING: readiness reacts, liveness waits longer.
        readiness, liveness = container["readinessProbe"], container["livenessProbe"]
        assert liveness["periodSeconds"] * liveness["failureThreshold"] > (
            readiness["periodSeconds"] * readiness["failureThreshold"]
        )


@pytest.mark.parametrize("example", EXAMPLES)
def test_the_gateway_has_http_probes(example: str) -> None:
    container = pod_spec(named(example, "Deployment", full("gateway")))["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    upstreams = dict(pair.split("=") for pair in env_of(container)["GATEWAY_UPSTREAMS"]["value"].split(","))
    assert upstreams == {name: f"{full(name)}:{service_values(example, name)['port']}" for name in enabled(example)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_every_long_running_container_has_readiness_and_liveness(example: str) -> None:
    for workload in workloads(example):
        if workload["kind"] == "Job":
            continue
        for container in pod_spec(workload)["containers"]:
            assert container.get("readinessProbe"), workload["metadata"]["name"]
            assert container.get("livenessProbe"), workload["metadata"]["name"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_termination_outlasts_the_drain_and_the_shutdown_grace(example: str) -> None:
    for workload in of_kind(example, "Deployment"):
        spec = pod_spec(workload)
        container = spec["containers"][0]
        grace = float(env_of(container)["O2O_SHUTDOWN_GRACE_S"]["value"])
        drain = container["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] > drain + grace, workload["metadata"]["name"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_metrics_ports_are_scrapable(example: str) -> None:
    for workload in of_kind(example, "Deployment"):
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        ports = {p["name"]: p["containerPort"] for p in pod_spec(workload)["containers"][0]["ports"]}
        assert annotations["prometheus.io/scrape"] == "true"
        assert int(annotations["prometheus.io/port"]) == ports["metrics"]
        service = named(example, "Service", workload["metadata"]["name"])
        assert "metrics" in {p["name"] for p in service["spec"]["ports"]}


# ---- datastores, migrations, secrets -------------------------------------------------------------


def database_secret(example: str, name: str) -> tuple[str, str]:
    container = pod_spec(named(example, "Deployment", full(name)))["containers"][0]
    ref = env_of(container)[f"{name.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


@pytest.mark.parametrize("example", EXAMPLES)
def test_no_two_services_share_a_database(example: str) -> None:
    secrets = {name: database_secret(example, name) for name in enabled(example)}
    assert len({s for s, _ in secrets.values()}) == len(secrets), secrets
    if example == "default":
        for name, (secret, key) in secrets.items():
            url = named(example, "Secret", secret)["stringData"][key]
            assert re.fullmatch(rf"postgresql://{name}:\w+@{full(name)}-postgresql:5432/{name}", url), url
            database = named(example, "StatefulSet", f"{full(name)}-postgresql")
            assert database["spec"]["volumeClaimTemplates"], "the bundled database keeps its data on a volume"
            assert env_of(pod_spec(database)["containers"][0])["POSTGRES_DB"]["value"] == name
    else:
        assert not [s for s in of_kind(example, "StatefulSet") if "postgresql" in s["metadata"]["name"]]
        for name, (secret, _key) in secrets.items():
            assert secret == service_values(example, name)["database"]["external"]["existingSecret"]


def test_two_services_on_one_database_secret_are_refused() -> None:
    result = helm(
        "template",
        RELEASE,
        ".",
        *("--set", "services.receipts.database.mode=external"),
        *("--set", "services.receipts.database.external.existingSecret=one-db"),
        *("--set", "services.webhooks.database.mode=external"),
        *("--set", "services.webhooks.database.external.existingSecret=one-db"),
    )
    assert result.returncode != 0
    assert "share the database Secret one-db" in result.stderr


@pytest.mark.parametrize("example", EXAMPLES)
def test_migrations_run_as_hook_jobs_before_the_replicas(example: str) -> None:
    for name in enabled(example):
        job = named(example, "Job", f"{full(name)}-migrate")
        assert hook(job) == "pre-install,pre-upgrade"
        migrate = pod_spec(job)["containers"][0]
        assert migrate["command"] == ["o2o", "migrate", name]
        ref = env_of(migrate)[f"{name.upper()}_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) == database_secret(example, name)
        assert migrate["image"] == pod_spec(named(example, "Deployment", full(name)))["containers"][0]["image"]
        assert pod_spec(job)["restartPolicy"] == "Never"
        server = pod_spec(named(example, "Deployment", full(name)))["containers"][0]
        assert server["args"] == ["serve", name], "replicas serve; they never migrate"
        # `o2o ops status` matches a Job to the Deployment by the revision both carry.
        revision = named(example, "Deployment", full(name))["metadata"]["annotations"]["o2o.platform/revision"]
        assert job["metadata"]["annotations"]["o2o.platform/revision"] == revision == "1"
    # What a migration reads exists before it runs: created by hooks of lower weight.
    job_weight = 0
    for doc in rendered(example):
        if doc["kind"] != "Job" and hook(doc):
            assert hook(doc) == "pre-install,pre-upgrade"
            assert int(doc["metadata"]["annotations"]["helm.sh/hook-weight"]) < job_weight
            assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


@pytest.mark.parametrize("example", EXAMPLES)
def test_secrets_are_referenced_never_written_into_the_manifests(example: str) -> None:
    secret_like = re.compile(r"SECRET|PASSWORD|DATABASE_URL|TOKEN_KEY")
    for workload in workloads(example):
        for container in containers(workload):
            for name, entry in env_of(container).items():
                if not secret_like.search(name):
                    continue
                if "value" in entry:
                    # Identity's list of service credentials is composed of other variables only.
                    assert re.fullmatch(r"(\w+=\$\(O2O_CALLER_\w+\),?)*", entry["value"]), (name, entry)
                else:
                    assert "secretKeyRef" in entry["valueFrom"], name
    for config in of_kind(example, "ConfigMap"):
        assert not secret_like.search(yaml.safe_dump(config["data"]).upper().replace("SERVER_NAME", ""))


def test_identity_accepts_each_service_with_that_services_own_credential() -> None:
    container = pod_spec(named("default", "Deployment", full("identity")))["containers"][0]
    env = env_of(container)
    callers = [name for name in enabled("default") if name != "identity"]
    assert env["IDENTITY_SERVICE_SECRETS"]["value"] == ",".join(f"{n}=$(O2O_CALLER_{n.upper()})" for n in callers)
    for name in callers:
        ref = env[f"O2O_CALLER_{name.upper()}"]["valueFrom"]["secretKeyRef"]
        caller = env_of(pod_spec(named("default", "Deployment", full(name)))["containers"][0])
        assert caller[f"{name.upper()}_SERVICE_SECRET"]["valueFrom"]["secretKeyRef"] == ref
    # Generated credentials are hooks created once, kept across upgrades and uninstalls.
    generated = named("default", "Secret", full("identity"))
    assert hook(generated) == "pre-install,pre-upgrade"
    assert len(generated["stringData"]["secret-key"]) >= 32


def container_environment(example: str, part: str) -> dict[str, str]:
    """The environment the part's container gets, as the kubelet builds it: Secret references
    read from the rendered Secrets, $(VAR) expanded from the variables before it."""
    secrets = {s["metadata"]["name"]: s["stringData"] for s in of_kind(example, "Secret")}
    environment: dict[str, str] = {}
    for name, entry in env_of(pod_spec(named(example, "Deployment", full(part)))["containers"][0]).items():
        if "value" in entry:
            environment[name] = re.sub(r"\$\((\w+)\)", lambda m: environment[m.group(1)], entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            environment[name] = secrets[ref["name"]][ref["key"]]
    return environment


def test_each_part_starts_with_the_settings_the_chart_gives_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real settings classes read the chart's environment: a required setting the chart does
    # not give (or gives malformed) fails here, not at a pod's start.
    for variable in list(os.environ):
        if variable.startswith(("O2O_", "GATEWAY_", "OTEL_", *(f"{n.upper()}_" for n in SERVICES))):
            monkeypatch.delenv(variable)
    for name in enabled("default"):
        environment = container_environment("default", name)
        with monkeypatch.context() as scope:
            for variable, value in environment.items():
                scope.setenv(variable, value)
            settings = load_settings(registry.definition(name).settings_type)
        assert (settings.host, settings.grpc_port) == ("0.0.0.0", service_values("default", name)["port"])
        assert settings.database_url.startswith(f"postgresql://{name}:")
        assert settings.nats_url == f"nats://{full('nats')}:4222"
        assert settings.identity_address == f"{full('identity')}:50051"
        if isinstance(settings, IdentitySettings):
            callers = {
                n: container_environment("default", n)[f"{n.upper()}_SERVICE_SECRET"]
                for n in enabled("default")
                if n != "identity"
            }
            assert settings.services() == callers
    with monkeypatch.context() as scope:
        for variable, value in container_environment("default", "gateway").items():
            scope.setenv(variable, value)
        gateway = load_settings(GatewaySettings)
    assert gateway.upstreams == {n: f"{full(n)}:{service_values('default', n)['port']}" for n in enabled("default")}


def test_existing_secrets_are_used_as_they_are() -> None:
    for name in enabled("production"):
        container = pod_spec(named("production", "Deployment", full(name)))["containers"][0]
        ref = env_of(container)[f"{name.upper()}_SECRET_KEY"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": f"o2o-{name}-credentials", "key": "secret-key"}


# ---- the event bus ---------------------------------------------------------------------------------


def stream_replicas(example: str) -> set[str]:
    return {
        env_of(c)["O2O_STREAM_REPLICAS"]["value"]
        for w in of_kind(example, "Deployment")
        for c in pod_spec(w)["containers"]
    }


def test_bundled_nats_is_one_jetstream_server_by_default() -> None:
    nats = named("default", "StatefulSet", full("nats"))
    assert nats["spec"]["replicas"] == 1
    assert nats["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi"
    config = named("default", "ConfigMap", full("nats"))["data"]["nats.conf"]
    assert "jetstream {" in config
    assert "cluster {" not in config
    assert stream_replicas("default") == {"1"}


def test_the_production_example_runs_a_three_server_jetstream_cluster() -> None:
    nats = named("production", "StatefulSet", full("nats"))
    assert nats["spec"]["replicas"] == 3
    config = named("production", "ConfigMap", full("nats"))["data"]["nats.conf"]
    routes = re.findall(r"nats://(\S+):6222", config)
    assert routes == [f"{full('nats')}-{i}.{full('nats')}-cluster" for i in range(3)]
    assert stream_replicas("production") == {"3"}
    assert named("production", "PodDisruptionBudget", full("nats"))["spec"]["maxUnavailable"] == 1


@pytest.mark.parametrize("example", ["default", "production"])
def test_the_nats_configuration_is_one_nats_server_accepts(example: str, tmp_path: Path) -> None:
    config = named(example, "ConfigMap", full("nats"))["data"]["nats.conf"]
    path = tmp_path / "nats.conf"
    path.write_text(config.replace("/data", str(tmp_path / "data")).replace("/var/run/nats", str(tmp_path)))
    server = Path(sys.executable).parent / "nats-server"
    result = subprocess.run(
        [str(server), "-c", str(path), "-t"],
        capture_output=True,
        text=True,
        timeout=30,
        env={"POD_NAME": f"{full('nats')}-0"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is valid" in result.stdout + result.stderr


def test_external_nats_comes_from_a_secret() -> None:
    assert not [s for s in of_kind("external", "StatefulSet") if s["metadata"]["name"] == full("nats")]
    for workload in of_kind("external", "Deployment"):
        url = env_of(pod_spec(workload)["containers"][0])["O2O_NATS_URL"]
        assert url["valueFrom"]["secretKeyRef"] == {"name": "nats-client", "key": "url"}
    assert stream_replicas("external") == {"3"}


def test_more_stream_replicas_than_servers_are_refused() -> None:
    result = helm("template", RELEASE, ".", "--set", "events.streamReplicas=3")
    assert result.returncode != 0
    assert "events.streamReplicas (3) cannot exceed events.bundled.replicas (1)" in result.stderr


# ---- network policies ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pod:
    name: str
    labels: dict[str, str]
    ports: frozenset[int]


def _pods_of(docs: list[Manifest]) -> list[Pod]:
    return [
        Pod(
            w["metadata"]["name"],
            w["spec"]["template"]["metadata"]["labels"],
            frozenset(p["containerPort"] for c in pod_spec(w)["containers"] for p in c.get("ports", [])),
        )
        for w in docs
    ]


def pods(example: str) -> list[Pod]:
    return _pods_of(workloads(example))


def selects(selector: Manifest, labels: dict[str, str]) -> bool:
    assert not selector.get("matchExpressions"), "the checks below read matchLabels only"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def peer_matches(peer: Manifest, pod: Pod) -> bool:
    # Pods of the release are in its namespace; an ipBlock never names a pod here.
    if "ipBlock" in peer:
        return False
    namespace = peer.get("namespaceSelector")
    if namespace is not None and namespace != {}:
        return False
    return selects(peer.get("podSelector", {}), pod.labels)


def rule_allows(rule: Manifest, peers_key: str, peer: Pod, port: int) -> bool:
    ports = rule.get("ports")
    if ports is not None and port not in {p["port"] for p in ports}:
        return False
    peers = rule.get(peers_key)
    return peers is None or any(peer_matches(p, peer) for p in peers)


def allowed(policies: list[Manifest], source: Pod, target: Pod, port: int) -> bool:
    def direction(pod: Pod, kind: str, rules_key: str, peers_key: str, other: Pod) -> bool:
        applying = [p for p in policies if selects(p["spec"]["podSelector"], pod.labels)]
        applying = [p for p in applying if kind in p["spec"]["policyTypes"]]
        assert applying, f"{pod.name} has no {kind} policy: deny by default"
        return any(rule_allows(r, peers_key, other, port) for p in applying for r in p["spec"].get(rules_key, []))

    return direction(source, "Egress", "egress", "to", target) and direction(
        target, "Ingress", "ingress", "from", source
    )


def expected_traffic(example: str) -> set[tuple[str, str, int]]:
    """The architecture's arrows between the release's pods."""
    names = enabled(example)
    port = {name: service_values(example, name)["port"] for name in names}
    edges = {(full("gateway"), full(name), port[name]) for name in names}
    edges |= {(full(name), full("identity"), port["identity"]) for name in names if name != "identity"}
    for name in names:
        if service_values(example, name)["database"]["mode"] == "bundled":
            database = f"{full(name)}-postgresql"
            edges |= {(full(name), database, 5432), (f"{full(name)}-migrate", database, 5432)}
    if values(example)["events"]["mode"] == "bundled":
        bus = full("nats")
        edges |= {(server, bus, 4222) for server in [*map(full, names), full("gateway")]}
        edges.add((bus, bus, 6222))
    return edges


@pytest.mark.parametrize("example", EXAMPLES)
def test_network_policies_allow_exactly_the_architectures_traffic(example: str) -> None:
    policies = of_kind(example, "NetworkPolicy")
    everything = pods(example)
    actual = {
        (source.name, target.name, port)
        for source in everything
        for target in everything
        for port in target.ports
        if allowed(policies, source, target, port)
    }
    assert actual == expected_traffic(example)


def test_a_service_enabled_by_an_upgrade_migrates_under_the_policies_in_place() -> None:
    # A release installed without loyalty, upgraded to the defaults: the upgrade's hooks
    # (loyalty's database and migration Job) run before the upgrade applies its own policies,
    # so what the installed release has must already let them through.
    before = [doc for doc in yaml.safe_load_all(render_text("--set", "services.loyalty.enabled=false")) if doc]
    hooks = [
        doc
        for doc in rendered("default")
        if doc["kind"] in WORKLOADS and hook(doc) and "loyalty" in doc["metadata"]["name"]
    ]
    new_pods = _pods_of(hooks)
    assert {p.name for p in new_pods} == {full("loyalty-migrate"), full("loyalty-postgresql")}
    installed = [doc for doc in before if doc["kind"] == "NetworkPolicy"]
    everything = [*_pods_of([doc for doc in before if doc["kind"] in WORKLOADS]), *new_pods]
    reached = {
        (source.name, target.name, port)
        for source in everything
        for target in everything
        for port in target.ports
        if (source in new_pods or target in new_pods) and allowed(installed, source, target, port)
    }
    assert reached == {(full("loyalty-migrate"), full("loyalty-postgresql"), 5432)}


@pytest.mark.parametrize("example", EXAMPLES)
def test_default_deny_covers_every_pod_of_the_release(example: str) -> None:
    deny = named(example, "NetworkPolicy", full("default-deny"))
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"]
    assert "egress" not in deny["spec"]
    for pod in pods(example):
        assert selects(deny["spec"]["podSelector"], pod.labels), pod.name


def from_outside(example: str, part: str) -> set[int]:
    """Ports of a part that clients outside the release may reach (rules open to any source or
    naming sources beyond the release's pods)."""
    policy = named(example, "NetworkPolicy", full(part))
    open_ports: set[int] = set()
    for rule in policy["spec"]["ingress"]:
        peers = rule.get("from")
        if peers is None or any("ipBlock" in p or "namespaceSelector" in p for p in peers):
            open_ports |= {p["port"] for p in rule["ports"]}
    return open_ports


def test_outside_clients_reach_the_gateway_and_the_device_facing_services_only() -> None:
    gateway = values("default")["gateway"]
    assert from_outside("default", "gateway") == {gateway["port"], gateway["metricsPort"]}
    for name in enabled("default"):
        svc = service_values("default", name)
        expected = {svc["metricsPort"], svc["port"]} if svc["deviceFacing"] else {svc["metricsPort"]}
        assert from_outside("default", name) == expected, name
    assert service_values("default", "receipts")["deviceFacing"]
    assert service_values("default", "positioning")["deviceFacing"]
    # Production narrows who that is: the ingress controller, the store network, the monitoring namespace.
    gateway_rule = named("production", "NetworkPolicy", full("gateway"))["spec"]["ingress"][0]
    assert gateway_rule["from"] == values("production")["networkPolicy"]["gatewaySources"]


def test_webhooks_reach_partners_on_public_addresses_only() -> None:
    policy = named("default", "NetworkPolicy", full("webhooks"))
    outside = [r for r in policy["spec"]["egress"] if any("ipBlock" in p for p in r.get("to", []))]
    assert len(outside) == 1
    block = outside[0]["to"][0]["ipBlock"]
    assert block["cidr"] == "0.0.0.0/0"
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= set(block["except"])
    assert [p["port"] for p in outside[0]["ports"]] == [443]


# ---- values -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("services.receipts.database.mode=shared", "/services/receipts/database/mode"),
        ("services.receipts.port=70000", "/services/receipts/port"),
        ("services.receipts.replica=3", "replica"),
        ("events.bundled.replicas=2", "/events/bundled/replicas"),
        ("gateway.ingress.host=Not A Host", "/gateway/ingress/host"),
        ("platform.logLevel=LOUD", "/platform/logLevel"),
        ("serviceDefaults.env.lower=1", "'lower' does not match pattern"),
        ("services.identity.enabled=false", "services.identity.enabled must be true"),
        ("events.mode=external", "events.external.url or events.external.existingSecret is required"),
        ("services.receipts.database.mode=external", "services.receipts.database.external.existingSecret is required"),
    ],
)
def test_wrong_values_are_refused(setting: str, message: str) -> None:
    result = helm("template", RELEASE, ".", "--set", setting)
    assert result.returncode != 0, setting
    assert message in result.stderr, result.stderr


def test_notes_tell_how_to_reach_the_gateway_and_its_docs() -> None:
    result = helm("install", RELEASE, ".", "--namespace", NAMESPACE, "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    assert f"port-forward svc/{full('gateway')} 8080:8080" in notes
    assert "http://127.0.0.1:8080/docs" in notes
    assert "o2o identity rotate-keys" in notes
