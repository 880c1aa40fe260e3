"""Identifiers: UUIDv7, time ordered, so ids sort by creation and double as page keys."""

from __future__ import annotations

import uuid_utils


def new_id() -> str:
    return str(uuid_utils.uuid7())
