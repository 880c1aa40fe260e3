"""`o2o`: the platform's command line.

  o2o up                       run NATS and every installed service locally (make up)
  o2o seed                     load a demo chain into the running platform (make seed)
  o2o serve SERVICE            run one service (what a container runs)
  o2o migrate [SERVICE ...]    apply database migrations (a deploy step, not start-up)
  o2o call METHOD [JSON]       call any RPC with a JSON request, print the JSON response
  o2o token [--login --password]  print a staff token (default: the local administrator)

Service packages add their own commands (e.g. `o2o positioning evaluate`) through the
`o2o.commands` entry point group.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from o2o_runtime import registry


def _serve(args: argparse.Namespace) -> int:
    from o2o_runtime.server import run

    run(registry.definition(args.service))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from o2o_runtime.migrations import upgrade

    for name in args.services or registry.service_names():
        definition = registry.definition(name)
        url = registry.database_url(name)
        if url.startswith("sqlite"):
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        upgrade(definition.migrations, url)
        print(f"{name}: migrated")
    return 0


def _up(args: argparse.Namespace) -> int:
    from o2o_runtime.launcher import launch

    return launch(Path(args.data_dir))


def _seed(args: argparse.Namespace) -> int:
    from o2o_runtime.demo import seed

    return asyncio.run(seed(Path(args.data_dir)))


def _token(args: argparse.Namespace) -> int:
    from o2o_runtime.demo import admin_token

    print(asyncio.run(admin_token(Path(args.data_dir), args.login, args.password)))
    return 0


def _call(args: argparse.Namespace) -> int:
    from o2o_runtime.rpc_call import call

    token = args.token or os.environ.get("O2O_TOKEN", "")
    return asyncio.run(call(args.method, args.request, token=token, address=args.address))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="o2o", description="O2O retail platform")
    parser.add_argument("--data-dir", default=os.environ.get("O2O_DATA_DIR", "data"))
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service")
    serve.set_defaults(handler=_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("services", nargs="*")
    migrate.set_defaults(handler=_migrate)

    commands.add_parser("up", help="run the platform locally").set_defaults(handler=_up)
    commands.add_parser("seed", help="load a demo chain").set_defaults(handler=_seed)
    token = commands.add_parser("token", help="print a staff token (default: the local administrator)")
    token.add_argument("--login", default="")
    token.add_argument("--password", default="")
    token.set_defaults(handler=_token)

    call = commands.add_parser("call", help="call an RPC with a JSON request")
    call.add_argument("method", help="e.g. o2o.identity.v1.IdentityService/GetMember or IdentityService/GetMember")
    call.add_argument("request", nargs="?", default="{}", help="request as JSON (default {})")
    call.add_argument("--token", help="bearer token (default: $O2O_TOKEN)")
    call.add_argument("--address", help="host:port (default: $O2O_<SERVICE>_ADDRESS, else the service's local port)")
    call.set_defaults(handler=_call)

    for ep in entry_points(group="o2o.commands"):
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None] = ep.load()
        register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a command-line tool reports, it does not dump a trace
        if os.environ.get("O2O_DEBUG"):
            raise
        print(f"o2o {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
