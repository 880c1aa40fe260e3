"""Identity's operator commands, added to the `o2o` CLI: `o2o identity rotate-keys`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from o2o_runtime.db import Database
from o2o_runtime.settings import load_settings

from o2o_identity.app import Identity
from o2o_identity.settings import IdentitySettings


async def _rotate() -> int:
    settings = load_settings(IdentitySettings)
    database = Database(settings.database_url_or_default("identity"))
    try:
        keys = Identity(database, settings).signing_keys
        await keys.reload()
        await keys.rotate()
        kids = [k["kid"] for k in await keys.public_jwks()]
    finally:
        await database.dispose()
    print(f"new signing key {kids[-1]}; published keys: {', '.join(kids)}")
    print("running replicas pick it up within IDENTITY_KEY_RELOAD_S seconds")
    return 0


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("identity", help="identity operator commands")
    sub = parser.add_subparsers(dest="identity_command", required=True)
    rotate = sub.add_parser(
        "rotate-keys", help="add a new token signing key; older keys stay published until their tokens expire"
    )
    rotate.set_defaults(handler=lambda _args: asyncio.run(_rotate()))
