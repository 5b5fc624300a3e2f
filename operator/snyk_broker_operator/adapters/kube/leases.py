"""The coordination.k8s.io/v1 Lease calls of leader election: read one Lease, create it, and replace it only at the
resourceVersion that was read (a stale write comes back as `Conflict`, so two candidates never both win a round).

Only `get`, `create` and `update` are used, which is all the operator's Role grants on Leases (deploy/base/rbac.yaml).
"""

from __future__ import annotations

import dataclasses
import datetime
from concurrent.futures import ThreadPoolExecutor

from kubernetes import client

from snyk_broker_operator.adapters.kube.calls import call
from snyk_broker_operator.adapters.kube.errors import NotFound


@dataclasses.dataclass(frozen=True)
class LeaseRecord:
    """What leader election reads and writes of a Lease's spec, and the version it was read at."""

    holder: str  # "" when nobody holds it (released)
    duration_seconds: int
    transitions: int
    acquire_time: datetime.datetime | None = None
    renew_time: datetime.datetime | None = None
    resource_version: str = ""


class Leases:
    def __init__(self, api: client.ApiClient, *, request_timeout: float) -> None:
        self._coordination = client.CoordinationV1Api(api)
        # A renewal that hangs must not outlive the renew deadline; the elector also bounds it, this frees the thread.
        self._timeout = request_timeout
        # A thread of its own: in the shared pool a renewal queued behind a thousand BrokerTokens' reads missed its
        # deadline, and the leader exited in the middle of a cold start (seen at 1,000 BrokerTokens).
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lease")

    async def get(self, namespace: str, name: str) -> LeaseRecord | None:
        try:
            lease = await call(
                self._coordination.read_namespaced_lease,
                name,
                namespace,
                _request_timeout=self._timeout,
                executor=self._executor,
            )
        except NotFound:
            return None
        spec = lease.spec or client.V1LeaseSpec()
        return LeaseRecord(
            holder=spec.holder_identity or "",
            duration_seconds=int(spec.lease_duration_seconds or 0),
            transitions=int(spec.lease_transitions or 0),
            acquire_time=spec.acquire_time,
            renew_time=spec.renew_time,
            resource_version=_version(lease),
        )

    async def create(self, namespace: str, name: str, record: LeaseRecord) -> str:
        """Create the Lease; its resourceVersion. Raises `Conflict` (AlreadyExists) when another candidate won."""
        body = client.V1Lease(metadata=client.V1ObjectMeta(name=name, namespace=namespace), spec=_spec(record))
        created = await call(
            self._coordination.create_namespaced_lease,
            namespace,
            body,
            _request_timeout=self._timeout,
            executor=self._executor,
        )
        return _version(created)

    async def update(self, namespace: str, name: str, record: LeaseRecord) -> str:
        """Replace the Lease's spec at `record.resource_version`; the new version. Raises `Conflict` when stale."""
        body = client.V1Lease(
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, resource_version=record.resource_version),
            spec=_spec(record),
        )
        replaced = await call(
            self._coordination.replace_namespaced_lease,
            name,
            namespace,
            body,
            _request_timeout=self._timeout,
            executor=self._executor,
        )
        return _version(replaced)


def _version(lease: client.V1Lease) -> str:
    return str(lease.metadata.resource_version or "") if lease.metadata is not None else ""


def _spec(record: LeaseRecord) -> client.V1LeaseSpec:
    return client.V1LeaseSpec(
        holder_identity=record.holder or None,
        lease_duration_seconds=record.duration_seconds,
        lease_transitions=record.transitions,
        acquire_time=_micro_time(record.acquire_time),
        renew_time=_micro_time(record.renew_time),
    )


def _micro_time(moment: datetime.datetime | None) -> str | None:
    # metav1.MicroTime is parsed with a six-digit fraction; the client's isoformat() drops the fraction when the
    # microseconds are zero (and the API server then refuses the Lease), so the string is written here.
    if moment is None:
        return None
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
