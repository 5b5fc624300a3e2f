"""The steps a reconcile can take, as plain values, and the decision that names them: `plan.decide` chooses them,
`engine.executor` carries them out."""

from __future__ import annotations

import dataclasses

from snyk_broker_operator.models.enums import ConditionReason, RotationStrategy, RotationTrigger


@dataclasses.dataclass(frozen=True)
class ResolveIntegration:
    """Find the integration's id (from its type) or type (from its id) with one read call."""

    org_id: str
    integration_id: str | None
    integration_type: str | None


@dataclasses.dataclass(frozen=True)
class EnableBroker:
    """Enable broker on the integration and persist the token Snyk returns, before anything else happens."""

    org_id: str
    integration_id: str
    integration_type: str
    origin: str


@dataclasses.dataclass(frozen=True)
class AdoptExistingToken:
    """Copy the user-supplied token into custody (no Snyk call: a given token is never sent anywhere)."""

    origin: str


@dataclasses.dataclass(frozen=True)
class InspectShareTarget:
    """Look up whether another org already has an integration of this type."""

    org_id: str
    integration_type: str


@dataclasses.dataclass(frozen=True)
class CloneIntegration:
    """Clone the integration, with its broker token, into another org; the new id is persisted at once."""

    org_id: str
    integration_id: str
    destination_org_id: str


@dataclasses.dataclass(frozen=True)
class RecordShare:
    """Persist what a look-up found: our clone (after an ambiguous clone call) or someone else's integration."""

    destination_org_id: str
    integration_id: str
    ours: bool


@dataclasses.dataclass(frozen=True)
class WriteConsumerSecret:
    """Create or repair the consumer Secret as a projection of custody."""

    create: bool
    repairs: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RollConsumer:
    """Put the token's fingerprint on a consumer's pod template, which rolls it onto the new token."""

    kind: str
    name: str
    fingerprint: str


@dataclasses.dataclass(frozen=True)
class BeginRotation:
    """Record a new rotation (phase Provisioned, no token yet) before any Snyk call is made for it."""

    strategy: RotationStrategy
    trigger: RotationTrigger
    request: str | None


@dataclasses.dataclass(frozen=True)
class ProvisionToken:
    """Ask Snyk for a provisional token and persist it in the rotation Secret the moment it arrives."""

    org_id: str
    integration_id: str


@dataclasses.dataclass(frozen=True)
class EnsureBridges:
    """Run a bridge copy of each named consumer on the provisional token."""

    consumers: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class SwitchToken:
    """Make Snyk route to the provisional token (for every integration sharing the old one)."""

    org_id: str
    integration_id: str


@dataclasses.dataclass(frozen=True)
class PromoteProvisional:
    """Put the provisional token in custody (and so in the consumer Secret): the consumers roll onto it."""


@dataclasses.dataclass(frozen=True)
class FinishRotation:
    """Delete the bridges and the rotation Secret."""


Action = (
    ResolveIntegration
    | EnableBroker
    | AdoptExistingToken
    | InspectShareTarget
    | CloneIntegration
    | RecordShare
    | WriteConsumerSecret
    | RollConsumer
    | BeginRotation
    | ProvisionToken
    | EnsureBridges
    | SwitchToken
    | PromoteProvisional
    | FinishRotation
)


@dataclasses.dataclass(frozen=True)
class Stall:
    """Nothing more can be done until the user changes something; `message` says what."""

    reason: ConditionReason
    message: str


@dataclasses.dataclass(frozen=True)
class Decision:
    actions: tuple[Action, ...] = ()
    stall: Stall | None = None
    # Look again in this many seconds: with no action, nothing is to be done yet (a rollout waiting for the token to
    # settle); after the actions, the cluster must act before anything more can be decided (bridges starting), so
    # the pass ends there. With a stall, the stall is reported but polled at this pace rather than backed off.
    wait_seconds: float | None = None

    @property
    def converged(self) -> bool:
        return not self.actions and self.stall is None and self.wait_seconds is None
