"""The API's identity: group, version, and the annotation and label names that are part of the API contract."""

from __future__ import annotations

from typing import Final

__all__ = [
    "API_VERSION",
    "GROUP",
    "ROTATE_REQUESTED_AT_ANNOTATION",
    "TOKEN_FINGERPRINT_ANNOTATION",
    "VERSION",
]

GROUP: Final = "snykbroker.dev"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

# Set on a BrokerToken to any new value to request one rotation; the handled value is echoed in
# status.lastRotateRequest, so the same value never rotates twice.
ROTATE_REQUESTED_AT_ANNOTATION: Final = f"{GROUP}/rotate-requested-at"
# Set by the operator on each consumer's pod template; a new value rolls the workload onto the current token.
TOKEN_FINGERPRINT_ANNOTATION: Final = f"{GROUP}/token-fingerprint"
