"""`o2o ops status --namespace N --release R`: exit 0 when every part is ready, migrated for its
revision and the gateway ready; 1 when something is not; 2 when the release cannot be read."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kubernetes import client, config


def _api(args: argparse.Namespace) -> client.ApiClient:
    configuration = client.Configuration()
    if args.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    else:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=args.kubeconfig, context=args.context, client_configuration=configuration
        )
    return client.ApiClient(configuration)


def _status(args: argparse.Namespace) -> int:
    from o2o_ops.status import collect

    try:
        with _api(args) as api:
            report = collect(api, args.namespace, args.release)
    except (client.ApiException, config.ConfigException, OSError) as exc:
        print(f"o2o ops status: cannot read release {args.release} in {args.namespace}: {exc}", file=sys.stderr)
        return 2
    if not report.parts:
        print(f"o2o ops status: no part of release {args.release} found in namespace {args.namespace}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    return 0 if report.ok else 1


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("ops", help="operate a release of the Helm chart")
    sub = parser.add_subparsers(dest="ops_command", required=True)
    status = sub.add_parser("status", help="ready replicas, images, migrations and the gateway's readiness")
    status.add_argument("--namespace", "-n", required=True)
    status.add_argument("--release", "-r", required=True)
    status.add_argument("--kubeconfig", help="default: $KUBECONFIG or ~/.kube/config, in a pod its service account")
    status.add_argument("--context", help="kubeconfig context (default: the current one)")
    status.set_defaults(handler=_status)
