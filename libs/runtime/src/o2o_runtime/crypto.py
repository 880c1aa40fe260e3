"""Symmetric encryption of the few secrets a service must read back (never passwords or
codes, which are hashed): one Fernet key per purpose, derived from the service's secret key."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet


def fernet_for(secret_key: bytes, purpose: str) -> Fernet:
    """Keys for different purposes differ, so one leaked ciphertext type opens nothing else."""
    derived = hashlib.sha256(f"o2o-{purpose}".encode() + secret_key).digest()
    return Fernet(base64.urlsafe_b64encode(derived))
