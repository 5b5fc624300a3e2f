"""In-memory fakes of the engine's ports (engine/ports.py) and of Snyk, for engine unit tests only.

Every fake writes to one shared, ordered `CallLog`, so a test can assert the order of everything a pass did across
Kubernetes and Snyk (custody before the consumer Secret, the provisional token persisted before the next Snyk call,
events before the one status patch). The fakes keep the Kubernetes semantics the engine relies on (create refuses an
existing object, delete is idempotent, a pod-template change bumps metadata.generation, a status patch is a JSON
merge patch) and nothing more; the cluster tiers check the real API server. `FakeSnyk` is a small model of the v1
Integrations API with the rules the engine depends on (enable returns the integration's one token, one outstanding
provisional token per Group, switch moves every integration sharing the old token).

`World` bundles the fakes with a `FakeTime`; `make_deps` wires them into `Dependencies`; `World.run_pass` runs one
pass on the stored BrokerToken and checks the invariants every pass must keep.
"""

from __future__ import annotations

import base64
import copy
import dataclasses
import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from snyk_broker_operator.adapters.kube.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    Invalid,
    KubeError,
    NotFound,
    TooLarge,
    Unavailable,
)
from snyk_broker_operator.adapters.snyk import (
    BadRequestError,
    BrokerTokenGrant,
    CallContext,
    Credentials,
    IntegrationConflictError,
    NotFoundError,
    NotFoundSubject,
    NothingToSwitchError,
    ProvisionalToken,
    ProvisionalTokenOutstandingError,
    SnykCall,
)
from snyk_broker_operator.engine import cycle
from snyk_broker_operator.engine.context import no_failpoint
from snyk_broker_operator.engine.dependencies import Dependencies
from snyk_broker_operator.engine.ports import Failpoint, SnykApi
from snyk_broker_operator.engine.unsaved import UnsavedGrants
from snyk_broker_operator.models import (
    API_VERSION,
    BROKER_TOKEN_KIND,
    BROKER_TOKEN_PLURAL,
    ROTATE_REQUESTED_AT_ANNOTATION,
)
from snyk_broker_operator.models.enums import ConnectionKind
from support.fake_time import FakeTime

NAMESPACE = "ns"
NAME = "broker"
UID = "0f0f0f0f-0000-4000-8000-000000000001"
ORG = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
ORG_C = "0c000000-0000-4000-8000-00000000000c"
# An org that already has a github integration of its own (a share conflict).
ORG_D = "0d000000-0000-4000-8000-00000000000d"
GITHUB = "1a000000-0000-4000-8000-0000000000a1"
GITLAB = "1a000000-0000-4000-8000-0000000000a2"
ORG_D_GITHUB = "1d000000-0000-4000-8000-0000000000d1"
# FakeTime counts seconds; the operator reads datetimes (UTC, whole seconds): this is FakeTime's zero.
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

# The Kubernetes writes a pass can make (events are counted apart: they are a courtesy, not state).
KUBE_WRITES = frozenset(
    {
        "secrets.create",
        "secrets.apply",
        "secrets.delete",
        "secrets.orphan",
        "workloads.set_template_annotation",
        "workloads.apply_deployment",
        "workloads.delete_deployment",
        "objects.patch_status",
    }
)


@dataclasses.dataclass(frozen=True)
class Call:
    """One call made through a port: what (`op`, e.g. "secrets.create") and on what (`subject`, usually a name)."""

    op: str
    subject: str


class CallLog:
    """The one ordered record of every call the fakes served, shared by all of them.

    A call refused by an injected fault is kept apart (`refused`), so `entries` shows what actually happened.
    """

    def __init__(self) -> None:
        self.entries: list[Call] = []
        self.refused: list[Call] = []
        self._faults: dict[str, list[tuple[str | None, Exception]]] = {}

    def fail_next(self, op: str, error: Exception, *, subject: str | None = None) -> None:
        """Make the next `op` call (on `subject`, when given) raise `error` instead of happening; once."""
        self._faults.setdefault(op, []).append((subject, error))

    def record(self, op: str, subject: str) -> None:
        """Called by a fake as a call starts: raises an injected fault, or logs the call."""
        queued = self._faults.get(op, [])
        for index, (wanted, error) in enumerate(queued):
            if wanted is None or wanted == subject:
                del queued[index]
                self.refused.append(Call(op, subject))
                raise error
        self.entries.append(Call(op, subject))

    def mark(self) -> int:
        """A position in the log, for `since`."""
        return len(self.entries)

    def since(self, mark: int) -> list[Call]:
        return self.entries[mark:]

    @staticmethod
    def writes(entries: Sequence[Call]) -> list[Call]:
        """The Kubernetes writes and recorded events among `entries`, in order."""
        return [c for c in entries if c.op in KUBE_WRITES or c.op == "events.record"]

    @staticmethod
    def snyk(entries: Sequence[Call]) -> list[Call]:
        return [c for c in entries if c.op.startswith("snyk.")]


_STATUS_OF: dict[type[KubeError], int] = {
    BadRequest: 400,
    NotFound: 404,
    Conflict: 409,
    Invalid: 422,
    Forbidden: 403,
    TooLarge: 413,
    Unavailable: 503,
}


def kube_error(kind: type[KubeError], message: str = "injected by the test") -> KubeError:
    """A Kubernetes adapter error as the API server would give it (the status code of its kind)."""
    return kind(status=_STATUS_OF.get(kind, 500), reason=kind.__name__, message=message)


def new_token(rng: random.Random) -> SecretStr:
    """A broker token: a UUIDv4, as Snyk issues them (seeded, so a failing test repeats exactly)."""
    return SecretStr(str(uuid.UUID(int=rng.getrandbits(128), version=4)))


def encode(value: str) -> str:
    return base64.b64encode(value.encode()).decode()


def decode(value: str) -> str:
    return base64.b64decode(value).decode()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, None deletes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class FakeSecretStore:
    """Secrets by (namespace, name). `read` returns a deep copy, so the engine can never alias stored state."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._items: dict[tuple[str, str], dict[str, Any]] = {}
        self._versions = 0

    async def read(self, namespace: str, name: str, *, labelled: bool = False) -> dict[str, Any] | None:
        self._log.record("secrets.read", name)
        return self.get(namespace, name)

    async def create(self, body: dict[str, Any]) -> None:
        namespace, name = _where(body)
        if (namespace, name) in self._items:
            # Refused by the API server (AlreadyExists): nothing was written, so it is not logged as a write.
            self._log.refused.append(Call("secrets.create", name))
            raise Conflict(status=409, reason="AlreadyExists", message=f'secrets "{name}" already exists')
        self._log.record("secrets.create", name)
        self._store(body)

    async def apply(self, body: dict[str, Any]) -> None:
        self._log.record("secrets.apply", _where(body)[1])
        self._store(body)

    async def delete(self, namespace: str, name: str) -> None:
        self._log.record("secrets.delete", name)
        self._items.pop((namespace, name), None)

    async def orphan(self, namespace: str, name: str, owner_uid: str) -> None:
        self._log.record("secrets.orphan", name)
        secret = self._items.get((namespace, name))
        if secret is None:
            return
        metadata = secret["metadata"]
        kept = [ref for ref in metadata.get("ownerReferences") or [] if ref.get("uid") != owner_uid]
        if kept:
            metadata["ownerReferences"] = kept
        else:
            metadata.pop("ownerReferences", None)

    # Test-side access: not logged, since the engine did not make these calls.

    def put(self, body: dict[str, Any]) -> None:
        self._store(body)

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        found = self._items.get((namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def remove(self, namespace: str, name: str) -> None:
        self._items.pop((namespace, name), None)

    def token(self, name: str, key: str = "BROKER_TOKEN", namespace: str = NAMESPACE) -> str | None:
        """The decoded value under `key` of a stored Secret, or None."""
        secret = self._items.get((namespace, name))
        raw = ((secret or {}).get("data") or {}).get(key)
        return decode(raw) if raw is not None else None

    def names(self, namespace: str = NAMESPACE) -> set[str]:
        return {name for ns, name in self._items if ns == namespace}

    def _store(self, body: dict[str, Any]) -> None:
        self._versions += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self._versions)
        self._items[_where(body)] = stored


class FakeWorkloads:
    """Deployments and StatefulSets by (namespace, kind, name). Nothing rolls out by itself: a test plays the
    Deployment controller with `roll_out` (or `roll_out_all`), so it decides when a rollout finishes."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._items: dict[tuple[str, str, str], dict[str, Any]] = {}

    async def list(self, namespace: str) -> list[dict[str, Any]]:
        self._log.record("workloads.list", namespace)
        return [copy.deepcopy(body) for (ns, _, _), body in sorted(self._items.items()) if ns == namespace]

    async def set_template_annotation(self, *, kind: str, namespace: str, name: str, key: str, value: str) -> None:
        self._log.record("workloads.set_template_annotation", name)
        workload = self._items.get((namespace, kind, name))
        if workload is None:
            raise NotFound(status=404, reason="NotFound", message=f'{kind.lower()}s "{name}" not found')
        template_meta = workload.setdefault("spec", {}).setdefault("template", {}).setdefault("metadata", {})
        annotations = template_meta.setdefault("annotations", {})
        if annotations.get(key) != value:
            annotations[key] = value
            # A changed pod template is a new desired state: the API server bumps the generation.
            workload["metadata"]["generation"] = int(workload["metadata"].get("generation", 1)) + 1

    async def apply_deployment(self, body: dict[str, Any]) -> None:
        namespace, name = _where(body)
        self._log.record("workloads.apply_deployment", name)
        existing = self._items.get((namespace, "Deployment", name))
        stored = copy.deepcopy(body)
        stored["kind"] = "Deployment"
        if existing is None:
            stored["metadata"]["generation"] = 1
            stored["status"] = {}
        else:
            generation = int(existing["metadata"].get("generation", 1))
            changed = existing.get("spec") != stored.get("spec")
            stored["metadata"]["generation"] = generation + 1 if changed else generation
            stored["status"] = existing.get("status") or {}
        self._items[(namespace, "Deployment", name)] = stored

    async def delete_deployment(self, namespace: str, name: str) -> None:
        self._log.record("workloads.delete_deployment", name)
        self._items.pop((namespace, "Deployment", name), None)

    # Test-side access.

    def add(self, body: dict[str, Any], *, rolled_out: bool = True) -> None:
        """A workload as the user created it (generation 1), rolled out already unless told otherwise."""
        namespace, name = _where(body)
        stored = copy.deepcopy(body)
        stored["metadata"].setdefault("generation", 1)
        stored.setdefault("status", {})
        self._items[(namespace, str(stored["kind"]), name)] = stored
        if rolled_out:
            self.roll_out(name, kind=str(stored["kind"]), namespace=namespace)

    def roll_out(self, name: str, *, kind: str = "Deployment", namespace: str = NAMESPACE) -> None:
        """What the controller does once every pod of the current template runs: status catches up."""
        workload = self._items[(namespace, kind, name)]
        replicas = int(workload.get("spec", {}).get("replicas", 1))
        workload["status"] = {
            "observedGeneration": workload["metadata"]["generation"],
            "replicas": replicas,
            "updatedReplicas": replicas,
            "availableReplicas": replicas,
            "readyReplicas": replicas,
        }

    def roll_out_all(self, namespace: str = NAMESPACE) -> None:
        for ns, kind, name in list(self._items):
            if ns == namespace:
                self.roll_out(name, kind=kind, namespace=ns)

    def exceed_progress_deadline(self, name: str, *, namespace: str = NAMESPACE) -> None:
        """A Deployment whose new pods never become ready: the controller gives up with ProgressDeadlineExceeded."""
        workload = self._items[(namespace, "Deployment", name)]
        workload["status"] = {
            "observedGeneration": workload["metadata"]["generation"],
            "replicas": 1,
            "conditions": [
                {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "stuck"}
            ],
        }

    def get(self, name: str, *, kind: str = "Deployment", namespace: str = NAMESPACE) -> dict[str, Any] | None:
        found = self._items.get((namespace, kind, name))
        return copy.deepcopy(found) if found is not None else None

    def names(self, namespace: str = NAMESPACE) -> set[str]:
        return {name for ns, _, name in self._items if ns == namespace}


class FakeCustomObjects:
    """The operator's custom resources by (plural, namespace or None, name); a status patch is a merge patch."""

    def __init__(self, log: CallLog) -> None:
        self._log = log
        self._items: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        # Every status patch as sent, in order: (name, patch).
        self.status_patches: list[tuple[str, dict[str, Any]]] = []

    async def read(self, *, plural: str, name: str, namespace: str | None) -> dict[str, Any] | None:
        self._log.record("objects.read", name)
        return self.get(plural, name, namespace=namespace)

    async def patch_status(self, *, plural: str, name: str, namespace: str | None, status: dict[str, Any]) -> None:
        stored = self._items.get((plural, namespace, name))
        if stored is None:
            # The API server answers 404 and writes nothing: kept with the refused calls, not the writes.
            self._log.refused.append(Call("objects.patch_status", name))
            raise NotFound(status=404, reason="NotFound", message=f'{plural} "{name}" not found')
        self._log.record("objects.patch_status", name)
        self.status_patches.append((name, copy.deepcopy(status)))
        stored["status"] = merge_patch(stored.get("status") or {}, status)

    # Test-side access.

    def put(self, plural: str, body: dict[str, Any]) -> None:
        metadata = body["metadata"]
        self._items[(plural, metadata.get("namespace"), metadata["name"])] = copy.deepcopy(body)

    def get(self, plural: str, name: str, *, namespace: str | None = NAMESPACE) -> dict[str, Any] | None:
        found = self._items.get((plural, namespace, name))
        return copy.deepcopy(found) if found is not None else None

    def remove(self, plural: str, name: str, *, namespace: str | None = NAMESPACE) -> None:
        self._items.pop((plural, namespace, name), None)

    def annotate(self, plural: str, name: str, annotations: Mapping[str, str], *, namespace: str = NAMESPACE) -> None:
        """A user's `kubectl annotate`: metadata only, so the generation stays."""
        metadata = self._items[(plural, namespace, name)]["metadata"]
        metadata["annotations"] = {**(metadata.get("annotations") or {}), **annotations}

    def edit_spec(self, plural: str, name: str, spec: Mapping[str, Any], *, namespace: str = NAMESPACE) -> None:
        """A user's edit of the spec: the API server bumps the generation."""
        stored = self._items[(plural, namespace, name)]
        stored["spec"] = merge_patch(stored["spec"], dict(spec))
        stored["metadata"]["generation"] = int(stored["metadata"].get("generation", 1)) + 1


@dataclasses.dataclass(frozen=True)
class RecordedEvent:
    involved: str
    reason: str
    message: str
    warning: bool


class FakeEventRecorder:
    def __init__(self, log: CallLog) -> None:
        self._log = log
        self.events: list[RecordedEvent] = []

    async def record(self, *, involved: dict[str, Any], reason: str, message: str, warning: bool = False) -> None:
        self._log.record("events.record", str(reason))
        name = str((involved.get("metadata") or {}).get("name", ""))
        self.events.append(RecordedEvent(name, str(reason), message, warning))

    def reasons(self) -> list[str]:
        return [event.reason for event in self.events]


@dataclasses.dataclass
class FakeIntegration:
    """An integration as Snyk holds it: the token it routes to, and a provisional one while a rotation runs."""

    id: str
    org_id: str
    type: str
    token: SecretStr | None = None
    provisional: SecretStr | None = None


@dataclasses.dataclass(frozen=True)
class LedgerEntry:
    """One Snyk call as the fake received it, and how it ended ("ok" or the error's class name)."""

    call: str
    args: Mapping[str, str]
    result: str


@dataclasses.dataclass(frozen=True)
class _Fault:
    # A SnykError; or a BaseException such as the crash tests' Killed, which stops the pass as SIGKILL would.
    error: BaseException
    # True: the call takes effect, then the error is raised (an answer lost on the way back).
    applied: bool
    # Run just before the call is served (someone else acting in Snyk at that moment).
    before: Callable[[], None] | None


class FakeSnyk:
    """A small model of the Snyk v1 Integrations API for one Group, implementing `engine.ports.SnykApi`."""

    def __init__(self, log: CallLog, rng: random.Random) -> None:
        self._log = log
        self._rng = rng
        self.orgs: dict[str, dict[str, str]] = {}
        self.integrations: dict[str, FakeIntegration] = {}
        self.ledger: list[LedgerEntry] = []
        # Every token issued, in order: ("broker" | "provisional", token).
        self.issued: list[tuple[str, SecretStr]] = []
        # The tokens switched to, in order.
        self.switched: list[SecretStr] = []
        self._faults: dict[SnykCall, list[_Fault]] = {}

    def add_org(self, org_id: str) -> None:
        self.orgs.setdefault(org_id, {})

    def add_integration(self, org_id: str, integration_type: str, integration_id: str | None = None) -> str:
        self.add_org(org_id)
        integration_id = integration_id or str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        self.orgs[org_id][integration_type] = integration_id
        self.integrations[integration_id] = FakeIntegration(integration_id, org_id, integration_type)
        return integration_id

    def fail_next(
        self,
        call: SnykCall,
        error: BaseException,
        *,
        applied: bool = False,
        before: Callable[[], None] | None = None,
    ) -> None:
        """Make the next `call` raise `error` (after taking effect when `applied`); once."""
        self._faults.setdefault(call, []).append(_Fault(error, applied, before))

    def calls(self, call: SnykCall) -> list[LedgerEntry]:
        return [entry for entry in self.ledger if entry.call == call.value]

    def provision_outstanding(self, integration_id: str) -> SecretStr:
        """Someone else (another tool, a person) provisions a token in this Group."""
        token = new_token(self._rng)
        self.integrations[integration_id].provisional = token
        return token

    # The API.

    async def check_credentials(self) -> Credentials:
        with self._serving(CallContext(SnykCall.CHECK_CREDENTIALS)):
            return Credentials(user_id="fake-user", username="fake", org_ids=tuple(self.orgs))

    async def list_integrations(self, *, org_id: str) -> Mapping[str, str]:
        context = CallContext(SnykCall.LIST_INTEGRATIONS, org_id=org_id)
        with self._serving(context):
            return dict(self._org(context))

    async def get_integration_by_type(self, *, org_id: str, integration_type: str) -> str:
        context = CallContext(SnykCall.GET_INTEGRATION_BY_TYPE, org_id=org_id, integration_type=integration_type)
        with self._serving(context):
            found = self._org(context).get(integration_type)
            if found is None:
                raise NotFoundError(context, subject=NotFoundSubject.INTEGRATION_TYPE, status_code=404)
            return found

    async def enable_broker(self, *, org_id: str, integration_id: str, integration_type: str) -> BrokerTokenGrant:
        context = CallContext(
            SnykCall.ENABLE_BROKER, org_id=org_id, integration_id=integration_id, integration_type=integration_type
        )
        with self._serving(context):
            integration = self._integration(context)
            if integration.token is None:
                integration.token = self._issue("broker")
            # Enabling again returns the integration's one token: it never mints a second.
            return BrokerTokenGrant(integration_id=integration.id, token=integration.token)

    async def provision_token(self, *, org_id: str, integration_id: str) -> ProvisionalToken:
        context = CallContext(SnykCall.PROVISION_TOKEN, org_id=org_id, integration_id=integration_id)
        with self._serving(context):
            integration = self._integration(context)
            if integration.token is None:
                raise BadRequestError(context, status_code=400, snyk_message="integration is not brokered")
            if any(other.provisional is not None for other in self.integrations.values()):
                raise ProvisionalTokenOutstandingError(context, status_code=409)
            integration.provisional = self._issue("provisional")
            return ProvisionalToken(integration_id=integration.id, token=integration.provisional)

    async def switch_token(self, *, org_id: str, integration_id: str) -> None:
        context = CallContext(SnykCall.SWITCH_TOKEN, org_id=org_id, integration_id=integration_id)
        with self._serving(context):
            integration = self._integration(context)
            new, old = integration.provisional, integration.token
            if new is None or old is None:
                raise NothingToSwitchError(context, status_code=400)
            # Every integration sharing the old token (the clones) moves with it.
            for other in self.integrations.values():
                if other.token is not None and other.token.get_secret_value() == old.get_secret_value():
                    other.token = new
            integration.provisional = None
            self.switched.append(new)

    async def clone_integration(self, *, org_id: str, integration_id: str, destination_org_id: str) -> str:
        context = CallContext(
            SnykCall.CLONE_INTEGRATION,
            org_id=org_id,
            integration_id=integration_id,
            destination_org_id=destination_org_id,
        )
        with self._serving(context):
            source = self._integration(context)
            if destination_org_id not in self.orgs:
                raise NotFoundError(context, subject=NotFoundSubject.DESTINATION_ORG, status_code=404)
            if source.type in self.orgs[destination_org_id]:
                raise IntegrationConflictError(context, status_code=409)
            clone_id = self.add_integration(destination_org_id, source.type)
            self.integrations[clone_id].token = source.token
            return clone_id

    # Internals.

    def _issue(self, kind: str) -> SecretStr:
        token = new_token(self._rng)
        self.issued.append((kind, token))
        return token

    def _org(self, context: CallContext) -> dict[str, str]:
        assert context.org_id is not None
        found = self.orgs.get(context.org_id)
        if found is None:
            raise NotFoundError(context, subject=NotFoundSubject.ORG, status_code=404)
        return found

    def _integration(self, context: CallContext) -> FakeIntegration:
        self._org(context)  # an unknown org is reported as such, before the integration
        found = self.integrations.get(context.integration_id or "")
        if found is None or found.org_id != context.org_id:
            raise NotFoundError(context, subject=NotFoundSubject.INTEGRATION, status_code=404)
        return found

    def _serving(self, context: CallContext) -> _Serving:
        return _Serving(self, context)


class _Serving:
    """Serves one Snyk call: logs it, applies an injected fault, and writes the ledger entry with how it ended."""

    def __init__(self, snyk: FakeSnyk, context: CallContext) -> None:
        self._snyk = snyk
        self._context = context
        self._fault: _Fault | None = None

    def __enter__(self) -> None:
        context = self._context
        subject = context.integration_id or context.org_id or ""
        if context.destination_org_id:
            subject = f"{subject}->{context.destination_org_id}"
        self._snyk._log.record(f"snyk.{context.call.value}", subject)
        queued = self._snyk._faults.get(context.call, [])
        self._fault = queued.pop(0) if queued else None
        if self._fault is not None:
            if self._fault.before is not None:
                self._fault.before()
            if not self._fault.applied:
                self._finish(self._fault.error)
                raise self._fault.error

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is not None:
            self._finish(exc)
            return
        if self._fault is not None and self._fault.applied:
            # The call took effect; its answer is lost on the way back.
            self._finish(self._fault.error)
            raise self._fault.error
        self._finish(None)

    def _finish(self, error: BaseException | None) -> None:
        context = self._context
        args = {
            name: value
            for name, value in (
                ("org_id", context.org_id),
                ("integration_id", context.integration_id),
                ("integration_type", context.integration_type),
                ("destination_org_id", context.destination_org_id),
            )
            if value is not None
        }
        result = "ok" if error is None else type(error).__name__
        self._snyk.ledger.append(LedgerEntry(context.call.value, args, result))


class FakeConnections:
    """`engine.ports.SnykConnections` that hands out the one FakeSnyk (or raises an injected error)."""

    def __init__(self, log: CallLog, snyk: FakeSnyk) -> None:
        self._log = log
        self.snyk = snyk
        self.closed = False
        self.asked: list[tuple[ConnectionKind, str, str]] = []

    async def client_for(self, *, kind: ConnectionKind, name: str, namespace: str) -> SnykApi:
        self._log.record("connections.client_for", name)
        self.asked.append((kind, name, namespace))
        return self.snyk

    async def aclose(self) -> None:
        self.closed = True


def _where(body: Mapping[str, Any]) -> tuple[str, str]:
    metadata = body["metadata"]
    return str(metadata.get("namespace") or ""), str(metadata["name"])


# Builders.


def broker_token(
    name: str = NAME,
    *,
    namespace: str = NAMESPACE,
    uid: str = UID,
    generation: int = 1,
    org_id: str = ORG,
    integration: Mapping[str, str] | None = None,
    source: Mapping[str, Any] | None = None,
    connection: str = "snyk",
    annotations: Mapping[str, str] | None = None,
    status: Mapping[str, Any] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A BrokerToken body as the API server returns it. `spec` adds fields in camelCase (secret, rotation,
    shareWith, deletionPolicy, consumers); the default provisions the org's github integration."""
    body: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": BROKER_TOKEN_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "generation": generation,
            "annotations": dict(annotations or {}),
        },
        "spec": {
            "connectionRef": {"name": connection},
            "orgId": org_id,
            "integration": dict(integration or {"type": "github"}),
            "source": dict(source or {"provision": {}}),
            **spec,
        },
    }
    if status is not None:
        body["status"] = dict(status)
    return body


def consumer_deployment(
    name: str,
    *,
    secret: str = NAME,
    key: str = "BROKER_TOKEN",
    replicas: int = 1,
    kind: str = "Deployment",
    namespace: str = NAMESPACE,
) -> dict[str, Any]:
    """A broker client reading its token from `secret` through an env secretKeyRef."""
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "containers": [
                        {
                            "name": "broker",
                            "image": "snyk/broker:github-com",
                            "env": [
                                {"name": "BROKER_TOKEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}},
                                {"name": "BROKER_HA_MODE_ENABLED", "value": "true"},
                            ],
                        }
                    ]
                },
            },
        },
    }


def opaque_secret(
    name: str,
    data: Mapping[str, str],
    *,
    namespace: str = NAMESPACE,
    labels: Mapping[str, str] | None = None,
    owner_uid: str | None = None,
) -> dict[str, Any]:
    """A Secret with `data` given in clear (encoded here), optionally controlled by BrokerToken `owner_uid`."""
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if owner_uid is not None:
        metadata["ownerReferences"] = [
            {"apiVersion": API_VERSION, "kind": BROKER_TOKEN_KIND, "name": NAME, "uid": owner_uid, "controller": True}
        ]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": metadata,
        "data": {key: encode(value) for key, value in data.items()},
    }


# The world and its Dependencies.


@dataclasses.dataclass
class World:
    """The fakes behind one test, sharing one log and one clock."""

    log: CallLog
    time: FakeTime
    secrets: FakeSecretStore
    workloads: FakeWorkloads
    objects: FakeCustomObjects
    events: FakeEventRecorder
    snyk: FakeSnyk
    connections: FakeConnections
    # The operator process's memory that outlives one pass (a test that "restarts" it passes a fresh one).
    unsaved: UnsavedGrants = dataclasses.field(default_factory=UnsavedGrants)

    @classmethod
    def create(cls, *, seed: int = 0) -> World:
        """An empty cluster and a Snyk Group: ORG (github and gitlab), ORG_B and ORG_C (none), ORG_D (github)."""
        log = CallLog()
        snyk = FakeSnyk(log, random.Random(seed))
        snyk.add_integration(ORG, "github", GITHUB)
        snyk.add_integration(ORG, "gitlab", GITLAB)
        snyk.add_org(ORG_B)
        snyk.add_org(ORG_C)
        snyk.add_integration(ORG_D, "github", ORG_D_GITHUB)
        return cls(
            log=log,
            time=FakeTime(),
            secrets=FakeSecretStore(log),
            workloads=FakeWorkloads(log),
            objects=FakeCustomObjects(log),
            events=FakeEventRecorder(log),
            snyk=snyk,
            connections=FakeConnections(log, snyk),
        )

    def now(self) -> datetime:
        """The operator's clock, driven by FakeTime: UTC, whole seconds (as `dependencies.utc_now` gives it)."""
        return (EPOCH + timedelta(seconds=self.time.now)).replace(microsecond=0)

    def deps(self, *, failpoint: Failpoint = no_failpoint) -> Dependencies:
        return make_deps(self, failpoint=failpoint)

    def add_broker_token(self, **options: Any) -> dict[str, Any]:
        body = broker_token(**options)
        self.objects.put(BROKER_TOKEN_PLURAL, body)
        return body

    async def new_broker_token(self, **options: Any) -> None:
        """A BrokerToken as the user creates it, past its first pass, which only shows it is being worked on (an
        InProgress status, before any other call): the test's next pass is the first to do anything else."""
        self.add_broker_token(**options)
        first = await self.run_pass()
        assert (first.outcome, first.delay) == ("pending", 0.0), first

    async def provisioned(self, *, consumers: Sequence[str] = (), **options: Any) -> dict[str, Any]:
        """Consumer Deployments reading Secret "broker", then a BrokerToken settled on its first token; its status."""
        for consumer in consumers:
            self.workloads.add(consumer_deployment(consumer))
        self.add_broker_token(**options)
        await self.settle()
        return self.status()

    def request_rotation(self, value: str, name: str = NAME) -> None:
        self.objects.annotate(BROKER_TOKEN_PLURAL, name, {ROTATE_REQUESTED_AT_ANNOTATION: value})

    def body(self, name: str = NAME, namespace: str = NAMESPACE) -> dict[str, Any]:
        found = self.objects.get(BROKER_TOKEN_PLURAL, name, namespace=namespace)
        assert found is not None, f"no BrokerToken {namespace}/{name}"
        return found

    def status(self, name: str = NAME) -> dict[str, Any]:
        return dict(self.body(name).get("status") or {})

    def condition(self, condition_type: str, name: str = NAME) -> dict[str, Any]:
        found = [c for c in self.status(name).get("conditions") or [] if c["type"] == condition_type]
        assert found, f"no {condition_type} condition in {self.status(name)!r}"
        return dict(found[0])

    async def run_pass(
        self, deps: Dependencies | None = None, *, body: Mapping[str, Any] | None = None, name: str = NAME
    ) -> cycle.PassResult:
        """One pass on the stored BrokerToken (or `body`), checked for what every pass must keep: at most one
        status write, and nothing (no write, no event) after it."""
        mark = self.log.mark()
        result: cycle.PassResult | None = None
        try:
            result = await cycle.run_pass(body if body is not None else self.body(name), deps or self.deps())
        finally:
            check_pass(self.log.since(mark), wrote=None if result is None else result.wrote_status)
        return result

    async def settle(self, deps: Dependencies | None = None, *, max_passes: int = 30) -> list[cycle.PassResult]:
        """Run passes like the per-object loop does, until a pass is converged and writes nothing. Between passes
        the workload controller finishes every rollout and the loop's delay elapses on the fake clock."""
        results = []
        for _ in range(max_passes):
            result = await self.run_pass(deps)
            results.append(result)
            if result.outcome == "converged" and not result.wrote_status:
                return results
            self.workloads.roll_out_all()
            await self.time.sleep(result.delay)
        raise AssertionError(f"not converged after {max_passes} passes: {[r.outcome for r in results]}")


def check_pass(entries: Sequence[Call], *, wrote: bool | None) -> None:
    """The invariants of one pass: at most one status patch, and it is the last write (events come before it)."""
    patches = [index for index, call in enumerate(entries) if call.op == "objects.patch_status"]
    assert len(patches) <= 1, f"more than one status write in one pass: {entries}"
    if patches:
        after = CallLog.writes(entries[patches[0] + 1 :])
        assert not after, f"written after the status: {after}"
    if wrote is not None:
        assert wrote == bool(patches), f"wrote_status={wrote} but the log shows {len(patches)} status patch(es)"


def make_deps(world: World, *, failpoint: Failpoint = no_failpoint) -> Dependencies:
    """Dependencies on the world's fakes, with the world's fake clock as `now`."""
    return Dependencies(
        secrets=world.secrets,
        objects=world.objects,
        events=world.events,
        connections=world.connections,
        workloads=world.workloads,
        now=world.now,
        failpoint=failpoint,
        unsaved=world.unsaved,
    )
