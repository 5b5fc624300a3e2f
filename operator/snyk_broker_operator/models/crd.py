"""Per-kind CRD metadata: names, scope, printer columns, and which models are the spec and status (read by crdgen)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel

from snyk_broker_operator.models.brokertoken import BrokerTokenSpec
from snyk_broker_operator.models.brokertoken_status import BrokerTokenStatus
from snyk_broker_operator.models.connection import SnykConnectionSpec, SnykConnectionStatus
from snyk_broker_operator.models.group import (
    BROKER_TOKEN_KIND,
    BROKER_TOKEN_PLURAL,
    CLUSTER_SNYK_CONNECTION_KIND,
    CLUSTER_SNYK_CONNECTION_PLURAL,
    GROUP,
    SNYK_CONNECTION_KIND,
    SNYK_CONNECTION_PLURAL,
    VERSION,
)

__all__ = [
    "BROKER_TOKEN_CRD",
    "CATEGORY",
    "CLUSTER_SNYK_CONNECTION_CRD",
    "CRDS",
    "SNYK_CONNECTION_CRD",
    "CustomResourceKind",
    "PrinterColumn",
    "Scope",
]

CATEGORY = "snyk"
_READY_CONDITION = '.status.conditions[?(@.type=="Ready")]'


class Scope(StrEnum):
    """Where objects of a kind live."""

    NAMESPACED = "Namespaced"
    CLUSTER = "Cluster"


@dataclass(frozen=True)
class PrinterColumn:
    """A column of ``kubectl get``; priority 1 shows only with ``-o wide``."""

    name: str
    json_path: str
    type: str = "string"
    description: str = ""
    priority: int = 0

    def as_crd(self) -> dict[str, object]:
        """The column as an additionalPrinterColumns entry."""
        column: dict[str, object] = {"name": self.name, "type": self.type, "jsonPath": self.json_path}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


_AGE = PrinterColumn(name="Age", json_path=".metadata.creationTimestamp", type="date")
_READY = PrinterColumn(name="Ready", json_path=f"{_READY_CONDITION}.status", description="Ready condition status.")
_REASON = PrinterColumn(
    name="Reason", json_path=f"{_READY_CONDITION}.reason", description="Ready condition reason.", priority=1
)


@dataclass(frozen=True)
class CustomResourceKind:
    """Everything crdgen needs to write one CustomResourceDefinition."""

    kind: str
    plural: str
    singular: str
    short_names: tuple[str, ...]
    scope: Scope
    description: str
    spec_model: type[BaseModel]
    status_model: type[BaseModel]
    printer_columns: tuple[PrinterColumn, ...]
    categories: tuple[str, ...] = (CATEGORY,)
    group: str = GROUP
    version: str = VERSION

    @property
    def crd_name(self) -> str:
        """The CRD's metadata.name, which is also its file name in crds/ (plus .yaml)."""
        return f"{self.plural}.{self.group}"


BROKER_TOKEN_CRD = CustomResourceKind(
    kind=BROKER_TOKEN_KIND,
    plural=BROKER_TOKEN_PLURAL,
    singular="brokertoken",
    short_names=("bt",),
    scope=Scope.NAMESPACED,
    description="A Snyk Broker token for one org and integration: obtained through the Snyk API or taken from a "
    "Secret, kept in a Secret, shared with other orgs, rolled out to the workloads that consume it, and rotated.",
    spec_model=BrokerTokenSpec,
    status_model=BrokerTokenStatus,
    printer_columns=(
        _READY,
        PrinterColumn(name="Org", json_path=".spec.orgId", description="Snyk org id."),
        PrinterColumn(name="Integration", json_path=".status.integrationId", description="Snyk integration id."),
        PrinterColumn(name="Fingerprint", json_path=".status.tokenFingerprint", description="Token fingerprint."),
        PrinterColumn(name="Consumers", json_path=".status.consumersReady", description="Consumers ready / all."),
        _REASON,
        PrinterColumn(name="Rotation", json_path=".status.rotation.phase", description="Rotation phase.", priority=1),
        PrinterColumn(
            name="Next-Rotation",
            json_path=".status.nextRotationAt",
            description="When the next scheduled rotation starts.",
            priority=1,
        ),
        _AGE,
    ),
)

_CONNECTION_COLUMNS = (
    _READY,
    PrinterColumn(name="Region", json_path=".spec.region", description="Snyk region."),
    PrinterColumn(name="API-URL", json_path=".spec.apiUrl", description="Explicit API URL.", priority=1),
    _REASON,
    _AGE,
)

SNYK_CONNECTION_CRD = CustomResourceKind(
    kind=SNYK_CONNECTION_KIND,
    plural=SNYK_CONNECTION_PLURAL,
    singular="snykconnection",
    short_names=("sc",),
    scope=Scope.NAMESPACED,
    description="Snyk API credentials for the BrokerTokens of one namespace: a region or API URL, and a Secret "
    "in the same namespace holding the API token.",
    spec_model=SnykConnectionSpec,
    status_model=SnykConnectionStatus,
    printer_columns=_CONNECTION_COLUMNS,
)

CLUSTER_SNYK_CONNECTION_CRD = CustomResourceKind(
    kind=CLUSTER_SNYK_CONNECTION_KIND,
    plural=CLUSTER_SNYK_CONNECTION_PLURAL,
    singular="clustersnykconnection",
    short_names=("csc",),
    scope=Scope.CLUSTER,
    description="Snyk API credentials for BrokerTokens in any namespace: a region or API URL, and a Secret in the "
    "operator's own namespace holding the API token.",
    spec_model=SnykConnectionSpec,
    status_model=SnykConnectionStatus,
    printer_columns=_CONNECTION_COLUMNS,
)

CRDS: tuple[CustomResourceKind, ...] = (BROKER_TOKEN_CRD, SNYK_CONNECTION_CRD, CLUSTER_SNYK_CONNECTION_CRD)
