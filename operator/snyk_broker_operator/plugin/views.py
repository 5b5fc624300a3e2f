"""Pure views of the kubectl plugin: what `status`, `describe`, `orgs` and `integrations` show, from what was read.

Inputs are the objects as the API server returns them (plain dicts) and a `now`; outputs are small dataclasses with
a JSON form (camelCase, for `-o json|yaml`) and the rows of a human table. No I/O, no clock. Only fingerprints of
tokens ever appear: the BrokerToken status holds nothing else.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pydantic

from snyk_broker_operator.adapters.snyk.results import Org
from snyk_broker_operator.models import (
    BrokerTokenStatus,
    Condition,
    ConditionStatus,
    ConditionType,
    ConsumerState,
    RotationPhase,
    RotationStrategy,
    ShareState,
)
from snyk_broker_operator.plugin import render

RECENT_EVENTS = 20
"""How many of an object's events `describe` shows (the latest ones, oldest first)."""

NOT_RECONCILED = "not reconciled yet: is the operator running and watching this namespace?"

BROKER_STATE_UNREADABLE = (
    "Whether an integration is brokered is not readable through Snyk's v1 API; shown instead: the BrokerTokens of "
    "this cluster that manage the org or integration, and their Ready state (the operator's view)."
)

# What each phase of a rotation waits for (docs/api.md, Rotation), when the operator has not said more.
PHASE_WAITS: Mapping[tuple[RotationStrategy, RotationPhase], str] = {
    (RotationStrategy.BRIDGE, RotationPhase.PROVISIONED): "bridge copies of the consumers on the provisional token",
    (RotationStrategy.BRIDGE, RotationPhase.BRIDGING): "the bridges to become available, then the switch at Snyk",
    (RotationStrategy.BRIDGE, RotationPhase.SWITCHED): "the new token in the Secret and the consumers rolled onto it",
    (RotationStrategy.BRIDGE, RotationPhase.ROLLING_OUT): "the consumers' rollout onto the new token, then the "
    "bridges' deletion",
    (RotationStrategy.IN_PLACE, RotationPhase.PROVISIONED): "the provisional token in the Secret and the consumers "
    "rolled onto it",
    (RotationStrategy.IN_PLACE, RotationPhase.ROLLING_OUT): "the consumers' rollout onto the provisional token, then "
    "the switch at Snyk",
    (RotationStrategy.IN_PLACE, RotationPhase.SWITCHED): "the rotation record's removal",
}


def parse_status(body: Mapping[str, Any]) -> BrokerTokenStatus | None:
    """The object's status, or None when it has none yet (or one this version cannot read)."""
    raw = body.get("status")
    if not raw:
        return None
    try:
        return BrokerTokenStatus.model_validate(raw)
    except pydantic.ValidationError:
        return None


def _spec(body: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = body.get("spec")
    return spec if isinstance(spec, Mapping) else {}


def _meta(body: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = body.get("metadata")
    return meta if isinstance(meta, Mapping) else {}


def _ready_of(status: BrokerTokenStatus | None) -> Condition | None:
    return status.condition(ConditionType.READY) if status else None


def readiness(status: BrokerTokenStatus | None) -> str:
    """True, False or Unknown (no status, or no Ready condition yet)."""
    ready = _ready_of(status)
    return str(ready.status) if ready else str(ConditionStatus.UNKNOWN)


def problem(status: BrokerTokenStatus | None) -> str:
    """The last problem in words: the Stalled message, else the Ready message when not Ready; a warning when Ready."""
    if status is None:
        return NOT_RECONCILED
    stalled = status.condition(ConditionType.STALLED)
    if stalled is not None and stalled.status == ConditionStatus.TRUE:
        return stalled.message or stalled.reason
    ready = _ready_of(status)
    if ready is None:
        return NOT_RECONCILED
    if ready.status == ConditionStatus.TRUE:
        return next((warning.message for warning in status.warnings or ()), "")
    return ready.message or ready.reason


def next_rotation(body: Mapping[str, Any], status: BrokerTokenStatus | None, now: datetime) -> str:
    """`rotating (Bridging)`, `in 89d`, `due`, or `on request` (no schedule)."""
    if status is not None and status.rotation is not None:
        return f"rotating ({status.rotation.phase})"
    when = status.next_rotation_at if status else None
    if when is None:
        every = (_spec(body).get("rotation") or {}).get("every")
        return "scheduled" if every else "on request"
    if when <= now:
        return "due"
    return "in " + render.human_duration(when - now)


@dataclasses.dataclass(frozen=True)
class Counts:
    current: int
    total: int

    def text(self, word: str) -> str:
        return f"{self.current}/{self.total} {word}" if self.total else "none"


def consumer_counts(status: BrokerTokenStatus | None) -> Counts:
    consumers = (status.consumers or ()) if status else ()
    return Counts(sum(1 for c in consumers if c.state == ConsumerState.CURRENT), len(consumers))


@dataclasses.dataclass(frozen=True)
class ShareCounts:
    shared: int
    conflict: int
    pending: int

    def text(self) -> str:
        parts = [
            f"{count} {word}"
            for count, word in ((self.shared, "Shared"), (self.conflict, "Conflict"), (self.pending, "pending"))
            if count
        ]
        return ", ".join(parts) or "none"


def share_counts(body: Mapping[str, Any], status: BrokerTokenStatus | None) -> ShareCounts:
    wanted = {str(target.get("orgId")) for target in _spec(body).get("shareWith") or () if isinstance(target, Mapping)}
    shares = (status.shared_with or ()) if status else ()
    shared = sum(1 for s in shares if s.state == ShareState.SHARED)
    conflict = sum(1 for s in shares if s.state == ShareState.CONFLICT)
    return ShareCounts(shared, conflict, len(wanted - {s.org_id for s in shares}))


@dataclasses.dataclass(frozen=True)
class TokenSummary:
    """One row of `status`."""

    namespace: str
    name: str
    ready: str
    reason: str | None
    fingerprint: str | None
    revision: int | None
    issued_at: datetime | None
    token_age: str
    next_rotation_at: datetime | None
    next_rotation: str
    rotation_phase: str | None
    consumers: Counts
    shares: ShareCounts
    problem: str

    def as_json(self) -> dict[str, Any]:
        return {
            "namespace": self.namespace,
            "name": self.name,
            "ready": self.ready,
            "reason": self.reason,
            "tokenFingerprint": self.fingerprint,
            "revision": self.revision,
            "issuedAt": render.timestamp(self.issued_at),
            "tokenAge": self.token_age or None,
            "nextRotationAt": render.timestamp(self.next_rotation_at),
            "nextRotation": self.next_rotation,
            "rotationPhase": self.rotation_phase,
            "consumers": {"current": self.consumers.current, "total": self.consumers.total},
            "shares": {"shared": self.shares.shared, "conflict": self.shares.conflict, "pending": self.shares.pending},
            "problem": self.problem or None,
        }


def summarize(body: Mapping[str, Any], now: datetime) -> TokenSummary:
    status = parse_status(body)
    ready = _ready_of(status)
    meta = _meta(body)
    return TokenSummary(
        namespace=str(meta.get("namespace") or ""),
        name=str(meta.get("name") or ""),
        ready=readiness(status),
        reason=ready.reason if ready else None,
        fingerprint=status.token_fingerprint if status else None,
        revision=status.revision if status else None,
        issued_at=status.issued_at if status else None,
        token_age=render.age(status.issued_at if status else None, now),
        next_rotation_at=status.next_rotation_at if status else None,
        next_rotation=next_rotation(body, status, now),
        rotation_phase=str(status.rotation.phase) if status and status.rotation else None,
        consumers=consumer_counts(status),
        shares=share_counts(body, status),
        problem=problem(status),
    )


def summaries(bodies: Iterable[Mapping[str, Any]], now: datetime) -> list[TokenSummary]:
    """One summary per BrokerToken, by namespace then name."""
    return sorted((summarize(body, now) for body in bodies), key=lambda s: (s.namespace, s.name))


STATUS_HEADERS = ("NAME", "READY", "FINGERPRINT", "TOKEN AGE", "NEXT ROTATION", "CONSUMERS", "SHARES", "PROBLEM")


def status_table(rows: Sequence[TokenSummary], *, all_namespaces: bool) -> str:
    headers = ("NAMESPACE", *STATUS_HEADERS) if all_namespaces else STATUS_HEADERS
    cells = [
        [
            *([row.namespace] if all_namespaces else []),
            row.name,
            row.ready,
            row.fingerprint or "",
            row.token_age,
            row.next_rotation,
            row.consumers.text("Current"),
            row.shares.text(),
            row.problem or "-",
        ]
        for row in rows
    ]
    return render.table(headers, cells)


def all_ready(rows: Iterable[TokenSummary]) -> bool:
    return all(row.ready == ConditionStatus.TRUE for row in rows)


# describe


def _event_time(event: Mapping[str, Any]) -> datetime | None:
    meta = event.get("metadata") or {}
    for value in (event.get("eventTime"), event.get("lastTimestamp"), event.get("firstTimestamp")):
        if value:
            return _parse_time(str(value))
    created = meta.get("creationTimestamp")
    return _parse_time(str(created)) if created else None


def _parse_time(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class EventLine:
    time: datetime | None
    type: str
    reason: str
    message: str
    count: int

    def as_json(self) -> dict[str, Any]:
        return {
            "time": render.timestamp(self.time),
            "type": self.type,
            "reason": self.reason,
            "message": self.message,
            "count": self.count,
        }


def recent_events(events: Iterable[Mapping[str, Any]], limit: int = RECENT_EVENTS) -> list[EventLine]:
    """The latest `limit` events, oldest first (events without a time first)."""
    lines = [
        EventLine(
            time=_event_time(event),
            type=str(event.get("type") or ""),
            reason=str(event.get("reason") or ""),
            message=str(event.get("message") or ""),
            count=int(event.get("count") or 1),
        )
        for event in events
    ]
    lines.sort(key=lambda line: line.time or datetime.min.replace(tzinfo=UTC))
    return lines[-limit:] if limit else []


def waiting_for(status: BrokerTokenStatus | None) -> str | None:
    """What the rotation in progress waits for: the operator's Reconciling message, else the phase's meaning."""
    if status is None or status.rotation is None:
        return None
    reconciling = status.condition(ConditionType.RECONCILING)
    if reconciling is not None and reconciling.status == ConditionStatus.TRUE and reconciling.message:
        return reconciling.message
    strategy = status.rotation.strategy or RotationStrategy.BRIDGE
    return PHASE_WAITS.get((strategy, status.rotation.phase))


def description(body: Mapping[str, Any], events: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, Any]:
    """Everything `describe` shows, as a JSON document (the human form is rendered from it)."""
    status = parse_status(body)
    summary = summarize(body, now)
    spec = _spec(body)
    connection = spec.get("connectionRef") or {}
    secret = spec.get("secret") or {}
    integration = spec.get("integration") or {}
    rotation_spec = spec.get("rotation") or {}
    rotation = status.rotation if status else None
    wanted_shares = [str(t.get("orgId")) for t in spec.get("shareWith") or () if isinstance(t, Mapping)]
    shares = [s.to_json_dict() for s in (status.shared_with or ()) if status] if status else []
    recorded = {share["orgId"] for share in shares}
    shares += [{"orgId": org, "state": "Pending"} for org in wanted_shares if org not in recorded]
    return {
        "namespace": summary.namespace,
        "name": summary.name,
        "orgId": spec.get("orgId"),
        "integration": {"type": integration.get("type"), "id": (status.integration_id if status else None)}
        if integration.get("type")
        else {"id": integration.get("id")},
        "connection": f"{connection.get('kind') or 'SnykConnection'}/{connection.get('name')}",
        "secret": {"name": secret.get("name") or summary.name, "key": secret.get("key") or "BROKER_TOKEN"},
        "source": "existingSecretRef" if (spec.get("source") or {}).get("existingSecretRef") else "provision",
        "ready": summary.ready,
        "problem": summary.problem or None,
        "tokenFingerprint": summary.fingerprint,
        "revision": summary.revision,
        "issuedAt": render.timestamp(summary.issued_at),
        "tokenAge": summary.token_age or None,
        "rotationEvery": rotation_spec.get("every"),
        "rotationStrategy": rotation_spec.get("strategy") or "Bridge",
        "nextRotationAt": render.timestamp(summary.next_rotation_at),
        "nextRotation": summary.next_rotation,
        "rotation": None if rotation is None else {**rotation.to_json_dict(), "waitingFor": waiting_for(status)},
        "conditions": [c.to_json_dict() for c in (status.conditions or ())] if status else [],
        "consumers": [c.to_json_dict() for c in (status.consumers or ())] if status else [],
        "consumersReady": status.consumers_ready if status else None,
        "shares": shares,
        "warnings": [w.to_json_dict() for w in (status.warnings or ())] if status else [],
        "events": [line.as_json() for line in recent_events(events)],
    }


def _since(text: str | None, now: datetime) -> str:
    moment = _parse_time(text) if text else None
    return render.age(moment, now)


def describe_text(doc: Mapping[str, Any], now: datetime) -> str:
    """`doc` (from `description`) as `kubectl describe` lays an object out."""
    integration = doc["integration"]
    integration_text = (
        f"{integration['type']} ({integration.get('id') or 'id not resolved yet'})"
        if integration.get("type")
        else str(integration.get("id"))
    )
    every = doc["rotationEvery"]
    fields = [
        ("Name", doc["name"]),
        ("Namespace", doc["namespace"]),
        ("Org", doc["orgId"]),
        ("Integration", integration_text),
        ("Connection", doc["connection"]),
        ("Source", doc["source"]),
        ("Secret", f"{doc['secret']['name']} (key {doc['secret']['key']})"),
        ("Ready", doc["ready"]),
        ("Problem", doc["problem"] or "-"),
        ("Fingerprint", doc["tokenFingerprint"] or render.NONE),
        ("Revision", "" if doc["revision"] is None else str(doc["revision"])),
        ("Token age", f"{doc['tokenAge']} (issued {doc['issuedAt']})" if doc["issuedAt"] else render.NONE),
        ("Schedule", f"every {every}, strategy {doc['rotationStrategy']}" if every else "on request"),
        ("Next rotation", doc["nextRotation"] + (f" ({doc['nextRotationAt']})" if doc["nextRotationAt"] else "")),
    ]
    width = max(len(label) for label, _ in fields) + 2
    lines = [f"{label + ':':<{width}}{value or render.NONE}" for label, value in fields]
    lines.append(_rotation_block(doc["rotation"], now))
    lines.append("Conditions:")
    lines.append(
        render.indented(
            render.table(
                ("TYPE", "STATUS", "REASON", "SINCE", "MESSAGE"),
                [
                    [c["type"], c["status"], c["reason"], _since(c.get("lastTransitionTime"), now), c.get("message")]
                    for c in doc["conditions"]
                ],
            )
        )
        if doc["conditions"]
        else "  <none>"
    )
    lines.append(f"Consumers ({doc['consumersReady'] or '0/0'} ready):")
    lines.append(
        render.indented(
            render.table(
                ("KIND", "NAME", "STATE", "UPDATED", "AVAILABLE", "FINGERPRINT", "REASON", "MESSAGE"),
                [
                    [
                        c["kind"],
                        c["name"],
                        c["state"],
                        _replicas(c.get("updatedReplicas"), c.get("desiredReplicas")),
                        _replicas(c.get("availableReplicas"), c.get("desiredReplicas")),
                        c.get("fingerprint"),
                        c.get("reason"),
                        c.get("message"),
                    ]
                    for c in doc["consumers"]
                ],
            )
        )
        if doc["consumers"]
        else "  <none>"
    )
    lines.append("Shares:")
    lines.append(
        render.indented(
            render.table(
                ("ORG", "INTEGRATION", "STATE", "MESSAGE"),
                [[s["orgId"], s.get("integrationId"), s["state"], s.get("message")] for s in doc["shares"]],
            )
        )
        if doc["shares"]
        else "  <none>"
    )
    if doc["warnings"]:
        lines.append("Warnings:")
        lines.extend(f"  {w['reason']}: {w['message']}" for w in doc["warnings"])
    lines.append("Events:")
    lines.append(
        render.indented(
            render.table(
                ("AGE", "TYPE", "REASON", "MESSAGE"),
                [
                    [
                        _since(e["time"], now),
                        e["type"],
                        e["reason"],
                        e["message"] + (f" (x{e['count']})" if e["count"] > 1 else ""),
                    ]
                    for e in doc["events"]
                ],
            )
        )
        if doc["events"]
        else "  <none>"
    )
    return "\n".join(lines)


def _replicas(count: int | None, desired: int | None) -> str:
    return f"{count or 0}/{desired}" if desired is not None else str(count or 0)


def _rotation_block(rotation: Mapping[str, Any] | None, now: datetime) -> str:
    if rotation is None:
        return "Rotation:      none in progress"
    started = rotation.get("startedAt")
    lines = [
        f"Rotation:      {rotation['phase']} ({rotation.get('strategy') or 'Bridge'}"
        f"{', by ' + rotation['trigger'] if rotation.get('trigger') else ''}"
        f"{', started ' + _since(started, now) + ' ago' if started else ''})",
        f"  Waiting for: {rotation.get('waitingFor') or render.NONE}",
        f"  New token:   {rotation.get('provisionalFingerprint') or render.NONE}",
    ]
    return "\n".join(lines)


# orgs and integrations


@dataclasses.dataclass(frozen=True)
class Manager:
    """A BrokerToken of this cluster that manages an org's integration: as its owner, or through a share."""

    namespace: str
    name: str
    role: str  # "owner", "shared" or "conflict"
    ready: str

    @property
    def text(self) -> str:
        suffix = "" if self.role == "owner" else f" ({self.role})"
        return f"{self.namespace}/{self.name}{suffix}"

    def as_json(self) -> dict[str, Any]:
        return {"namespace": self.namespace, "name": self.name, "role": self.role, "ready": self.ready}


def managers(
    org_id: str, integration_type: str, integration_id: str, bodies: Iterable[Mapping[str, Any]]
) -> list[Manager]:
    """The BrokerTokens that manage this integration: its owner (by id, or by type until the id is resolved), and
    those that shared their integration into this org (or found it there on another token: a conflict)."""
    found: list[Manager] = []
    for body in bodies:
        spec, meta, status = _spec(body), _meta(body), parse_status(body)
        integration = spec.get("integration") or {}
        resolved = status.integration_id if status else None
        namespace, name, ready = str(meta.get("namespace") or ""), str(meta.get("name") or ""), readiness(status)
        if spec.get("orgId") == org_id and integration_id in (integration.get("id"), resolved):
            found.append(Manager(namespace, name, "owner", ready))
            continue
        if spec.get("orgId") == org_id and resolved is None and integration.get("type") == integration_type:
            found.append(Manager(namespace, name, "owner", ready))
            continue
        for share in (status.shared_with or ()) if status else ():
            if share.org_id == org_id and share.integration_id == integration_id:
                role = "shared" if share.state == ShareState.SHARED else "conflict"
                found.append(Manager(namespace, name, role, ready))
    return sorted(found, key=lambda m: (m.namespace, m.name))


def org_token_count(org_id: str, bodies: Iterable[Mapping[str, Any]]) -> list[str]:
    """`namespace/name` of the BrokerTokens whose org is this one or that share into it."""
    names = []
    for body in bodies:
        spec, meta = _spec(body), _meta(body)
        shared = {str(t.get("orgId")) for t in spec.get("shareWith") or () if isinstance(t, Mapping)}
        if spec.get("orgId") == org_id or org_id in shared:
            names.append(f"{meta.get('namespace')}/{meta.get('name')}")
    return sorted(names)


def orgs_view(orgs: Iterable[Org], bodies: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The orgs an API key can see, each with the BrokerTokens of this cluster in it (as owner or share)."""
    return [
        {
            "id": org.id,
            "name": org.name,
            "slug": org.slug,
            "group": None if org.group_id is None else {"id": org.group_id, "name": org.group_name},
            "brokerTokens": org_token_count(org.id, bodies),
        }
        for org in orgs
    ]


def orgs_table(docs: Sequence[Mapping[str, Any]]) -> str:
    return render.table(
        ("NAME", "ID", "SLUG", "GROUP", "BROKERTOKENS"),
        [
            [
                doc["name"] or "",
                doc["id"],
                doc["slug"] or "",
                (doc["group"] or {}).get("name") or "",
                ", ".join(doc["brokerTokens"]) or "-",
            ]
            for doc in docs
        ],
    )


def integrations_view(
    org_id: str, integrations: Mapping[str, str], bodies: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """An org's integrations (type and id, by type), each with the BrokerTokens of this cluster that manage it."""
    return [
        {
            "type": kind,
            "id": integration_id,
            "brokerTokens": [m.as_json() for m in managers(org_id, kind, integration_id, bodies)],
        }
        for kind, integration_id in sorted(integrations.items())
    ]


def integrations_table(docs: Sequence[Mapping[str, Any]]) -> str:
    rows = []
    for doc in docs:
        found = [Manager(**m) for m in doc["brokerTokens"]]
        rows.append(
            [
                doc["type"],
                doc["id"],
                ", ".join(m.text for m in found) or "-",
                ", ".join(m.ready for m in found) or "-",
            ]
        )
    return render.table(("TYPE", "ID", "MANAGED BY", "READY"), rows)
