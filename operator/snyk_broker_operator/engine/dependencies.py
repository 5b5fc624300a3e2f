"""Everything a reconcile needs from the outside world, built once per operator and passed in (no globals)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime

from snyk_broker_operator.adapters.kube.connect import ApiClient
from snyk_broker_operator.adapters.kube.customobjects import CustomObjects
from snyk_broker_operator.adapters.kube.events import EventRecorder
from snyk_broker_operator.adapters.kube.secrets import SecretStore
from snyk_broker_operator.adapters.kube.workloads import Workloads
from snyk_broker_operator.engine.connections import Connections


def utc_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass(frozen=True)
class Dependencies:
    secrets: SecretStore
    objects: CustomObjects
    events: EventRecorder
    connections: Connections
    workloads: Workloads
    now: Callable[[], datetime] = utc_now

    @classmethod
    def build(cls, api: ApiClient, *, operator_namespace: str) -> Dependencies:
        secrets = SecretStore(api)
        objects = CustomObjects(api)
        return cls(
            secrets=secrets,
            objects=objects,
            events=EventRecorder(api),
            connections=Connections(objects=objects, secrets=secrets, operator_namespace=operator_namespace),
            workloads=Workloads(api),
        )
