"""Fingerprints of secrets: ``sha256:`` + the first 12 hex digits, safe to log and to show in a status."""

from __future__ import annotations

import hashlib

from pydantic import SecretStr

FINGERPRINT_PREFIX = "sha256:"


def sha256_hex(secret: SecretStr) -> str:
    """The full sha256 hex digest of a secret (a dictionary key that does not hold the secret itself)."""
    return hashlib.sha256(secret.get_secret_value().encode("utf-8")).hexdigest()


def fingerprint(secret: SecretStr) -> str:
    """``sha256:`` + the first 12 hex digits of sha256(secret)."""
    return FINGERPRINT_PREFIX + sha256_hex(secret)[:12]
