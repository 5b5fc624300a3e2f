"""Names and label values derived from names users choose, kept valid at the longest names Kubernetes allows.

A BrokerToken's or a workload's name may be a 253-character DNS subdomain, while a label value holds at most 63
characters; a suffix added to a long name can push it past 253. Where a derived name would not fit, the name is cut
short and a hash of the whole name is added, so that two long names sharing a prefix never derive the same one.
Names that fit are left exactly as they were.
"""

from __future__ import annotations

import hashlib
from typing import Final

# A Secret's (or any object's) name: a DNS subdomain.
OBJECT_NAME_MAX: Final = 253
# A Deployment's ReplicaSets are named `<deployment>-<pod-template-hash>`: leave room for the dash and the hash.
DEPLOYMENT_NAME_MAX: Final = OBJECT_NAME_MAX - 11
LABEL_VALUE_MAX: Final = 63
# Hex digits of the SHA-256 of the whole name that stand in for what was cut.
HASH_LENGTH: Final = 8


def _hash_of(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH]


def _shortened(name: str, room: int) -> str:
    """`name` cut to `room` characters with its hash at the end; never a dot or dash before the hash, which a DNS
    name (and a label value) refuses."""
    head = name[: room - HASH_LENGTH - 1].rstrip("-.")
    return f"{head}-{_hash_of(name)}"


def derived_name(base: str, suffix: str, *, limit: int = OBJECT_NAME_MAX) -> str:
    """`base` followed by `suffix` when that fits in `limit` characters; else `base` shortened to make room."""
    if len(base) + len(suffix) <= limit:
        return base + suffix
    return _shortened(base, limit - len(suffix)) + suffix


def label_value(name: str) -> str:
    """`name` as a label value: itself when it fits, else shortened to 63 characters."""
    return name if len(name) <= LABEL_VALUE_MAX else _shortened(name, LABEL_VALUE_MAX)
