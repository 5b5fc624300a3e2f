"""What the adapters saw, as frozen values: the custody copy, the consumer Secret, the source Secret, Snyk lookups.

`plan.decide` reads these and nothing else; `engine.executor` replaces them (dataclasses.replace) as actions land, so a
reconcile can take several steps without reading the cluster again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime

from pydantic import SecretStr

from snyk_broker_operator.reconcile.consumers import Workload
from snyk_broker_operator.reconcile.rotation import RotationRecord


@dataclasses.dataclass(frozen=True)
class SecretState:
    """A Secret as the operator saw it; `token` is the value under the key that matters, if any."""

    exists: bool
    token: SecretStr | None = None
    controller_uid: str | None = None
    labels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    annotations: Mapping[str, str] = dataclasses.field(default_factory=dict)

    @classmethod
    def absent(cls) -> SecretState:
        return cls(exists=False)


@dataclasses.dataclass(frozen=True)
class Custody:
    """The operator's own durable record of a BrokerToken (an operator-written Secret).

    Everything Snyk returns lands here before anything else happens: the token, the integration it belongs to,
    and the integrations cloned into other orgs. Status is computed from it, so a lost status loses nothing.
    """

    token: SecretStr | None
    origin: str | None
    integration_id: str | None
    integration_type: str | None
    # When the current token was obtained (parsed once, where the Secret is read).
    issued_at: datetime | None
    revision: int
    clones: Mapping[str, str] = dataclasses.field(default_factory=dict)
    conflicts: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Orgs a clone call went out for and whose result is not recorded yet (see CustodyAnnotation.CLONES_STARTED).
    clones_started: frozenset[str] = frozenset()
    # The last snykbroker.dev/rotate-requested-at value acted on (or already present when the token was obtained).
    last_rotate_request: str | None = None


@dataclasses.dataclass(frozen=True)
class Integration:
    """An integration resolved through the Snyk API in this reconcile (not yet backed by a token)."""

    id: str
    type: str


@dataclasses.dataclass(frozen=True)
class Observed:
    custody: Custody | None
    consumer: SecretState
    source: SecretState | None
    resolved: Integration | None = None
    # Set when the look-up by spec.integration.id found no such integration in the org.
    integration_missing: bool = False
    # Share targets looked up in this reconcile: org id -> id of its integration of our type, or None.
    share_targets: Mapping[str, str | None] = dataclasses.field(default_factory=dict)
    # The Deployments and StatefulSets that consume the token.
    consumers: tuple[Workload, ...] = ()
    # A rotation in progress, and the bridge Deployments it runs.
    rotation: RotationRecord | None = None
    bridges: tuple[Workload, ...] = ()
