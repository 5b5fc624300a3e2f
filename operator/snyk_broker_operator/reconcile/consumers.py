"""Broker-client workloads that consume a token: which ones they are, what they run, and how their rollout stands.

Pure functions over plain dicts (the API's JSON form of Deployments and StatefulSets). A workload consumes the
Secret when its pod template references it (env secretKeyRef, envFrom secretRef, or a secret volume, in containers
and init containers); `spec.consumers.selector`, when set, replaces that discovery with the selector.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

from snyk_broker_operator.models import BRIDGE_OF_LABEL, BROKER_TOKEN_LABEL, TOKEN_FINGERPRINT_ANNOTATION, LabelSelector
from snyk_broker_operator.models.enums import ConditionReason, ConsumerReason, ConsumerState
from snyk_broker_operator.models.names import label_value

HA_MODE_ENV = "BROKER_HA_MODE_ENABLED"
CLIENT_URL_ENV = "BROKER_CLIENT_URL"
# Snyk allows at most this many broker clients on one token in high-availability mode.
HA_CLIENT_LIMIT = 4
# Kubernetes' own reason on a Deployment's Progressing condition when a rollout stopped making progress.
PROGRESS_DEADLINE_EXCEEDED = "ProgressDeadlineExceeded"


@dataclasses.dataclass(frozen=True)
class Workload:
    """What the operator needs to know about one consumer Deployment or StatefulSet."""

    kind: str
    name: str
    generation: int
    observed_generation: int
    replicas: int
    updated_replicas: int
    available_replicas: int
    total_replicas: int
    fingerprint: str | None
    deadline_exceeded: str | None
    ha_mode: bool
    client_urls: frozenset[str]
    # The workload as read, for building its bridge copy during a rotation.
    source: Mapping[str, Any] = dataclasses.field(default_factory=dict, compare=False, repr=False)


def referenced_secrets(pod_spec: Mapping[str, Any]) -> set[str]:
    """Names of the Secrets a pod template reads: env secretKeyRef, envFrom secretRef, secret and projected volumes."""
    names: set[str | None] = set()
    for container in [*(pod_spec.get("containers") or []), *(pod_spec.get("initContainers") or [])]:
        names.update(
            ((e.get("valueFrom") or {}).get("secretKeyRef") or {}).get("name") for e in container.get("env") or []
        )
        names.update((s.get("secretRef") or {}).get("name") for s in container.get("envFrom") or [])
    for volume in pod_spec.get("volumes") or []:
        names.add((volume.get("secret") or {}).get("secretName"))
        names.update((p.get("secret") or {}).get("name") for p in (volume.get("projected") or {}).get("sources") or [])
    return {name for name in names if name}


def select_consumers(
    listed: Iterable[Mapping[str, Any]], *, secret_name: str, selector: LabelSelector | None
) -> tuple[Workload, ...]:
    """The consumers among a namespace's workloads: those `selector` picks when one is set (spec.consumers.selector),
    else those whose pod template reads `secret_name`; never a rotation bridge. Sorted by kind, then name."""
    chosen = []
    for workload in listed:
        labels = _labels(workload)
        if labels.get(BRIDGE_OF_LABEL):
            continue
        if selector is not None and not selector.matches(labels):
            continue
        if selector is None and secret_name not in referenced_secrets(_pod_spec(workload)):
            continue
        chosen.append(workload_view(workload))
    return tuple(sorted(chosen, key=lambda w: (w.kind, w.name)))


def bridges_of(listed: Iterable[Mapping[str, Any]], *, broker_token_name: str) -> tuple[Workload, ...]:
    """The rotation bridges a BrokerToken runs, among a namespace's workloads."""
    return tuple(
        workload_view(w)
        for w in listed
        if _labels(w).get(BRIDGE_OF_LABEL) and _labels(w).get(BROKER_TOKEN_LABEL) == label_value(broker_token_name)
    )


def _labels(workload: Mapping[str, Any]) -> Mapping[str, str]:
    return (workload.get("metadata") or {}).get("labels") or {}


def _pod_spec(workload: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}


def workload_view(obj: Mapping[str, Any]) -> Workload:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    template = spec.get("template") or {}
    pod_spec = template.get("spec") or {}
    replicas = int(spec.get("replicas", 1))
    env = [e for c in pod_spec.get("containers") or [] for e in c.get("env") or []]
    values = {e.get("name"): e.get("value") for e in env if "value" in e}
    client_url = values.get(CLIENT_URL_ENV)
    deadline = next(
        (
            c.get("message") or PROGRESS_DEADLINE_EXCEEDED
            for c in status.get("conditions") or []
            if c.get("type") == "Progressing" and c.get("reason") == PROGRESS_DEADLINE_EXCEEDED
        ),
        None,
    )
    return Workload(
        kind=str(obj.get("kind", "Deployment")),
        name=str(obj["metadata"]["name"]),
        generation=int(obj["metadata"].get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        replicas=replicas,
        updated_replicas=int(status.get("updatedReplicas", 0)),
        available_replicas=int(status.get("availableReplicas", status.get("readyReplicas", 0))),
        total_replicas=int(status.get("replicas", 0)),
        fingerprint=((template.get("metadata") or {}).get("annotations") or {}).get(TOKEN_FINGERPRINT_ANNOTATION),
        deadline_exceeded=deadline,
        ha_mode=str(values.get(HA_MODE_ENV, "")).lower() in {"true", "yes"},
        client_urls=frozenset({str(client_url)} if client_url else set()),
        source=obj,
    )


def state_of(workload: Workload, fingerprint: str) -> tuple[ConsumerState, ConsumerReason | None, str | None]:
    """(state, reason, message) of one consumer with respect to the current token's fingerprint."""
    if workload.fingerprint != fingerprint:
        return ConsumerState.PENDING, ConsumerReason.TOKEN_CHANGED, "waiting to roll onto the current token"
    if workload.observed_generation < workload.generation:
        return (
            ConsumerState.ROLLING_OUT,
            ConsumerReason.ROLLING_OUT,
            "the controller has not seen the new pod template yet",
        )
    if workload.deadline_exceeded is not None:
        return ConsumerState.FAILED, ConsumerReason.PROGRESS_DEADLINE_EXCEEDED, workload.deadline_exceeded
    done = (
        workload.updated_replicas >= workload.replicas
        and workload.available_replicas >= workload.replicas
        and workload.total_replicas <= workload.replicas
    )
    if done:
        return ConsumerState.CURRENT, None, None
    return (
        ConsumerState.ROLLING_OUT,
        ConsumerReason.ROLLING_OUT,
        f"{workload.updated_replicas}/{workload.replicas} updated, {workload.available_replicas} available",
    )


def ha_clients(workloads: Iterable[Workload]) -> int:
    return sum(w.replicas for w in workloads if w.ha_mode)


def redundancy_warnings(workloads: Iterable[Workload]) -> list[tuple[ConditionReason, str]]:
    """(reason, message) for setups Snyk does not support: too many HA clients, or differing client URLs."""
    workloads = list(workloads)
    warnings = []
    clients = ha_clients(workloads)
    if clients > HA_CLIENT_LIMIT:
        warnings.append(
            (
                ConditionReason.HA_CLIENT_LIMIT_EXCEEDED,
                f"{clients} broker clients share this token in high-availability mode; Snyk serves at most "
                f"{HA_CLIENT_LIMIT} and the others keep retrying: reduce replicas or use another token",
            )
        )
    urls = {url for w in workloads for url in w.client_urls}
    if len(urls) > 1:
        warnings.append(
            (
                ConditionReason.CLIENT_URL_MISMATCH,
                f"redundant broker clients of this token use different {CLIENT_URL_ENV} values "
                f"({', '.join(sorted(urls))}); Snyk requires them to be identical",
            )
        )
    return warnings
