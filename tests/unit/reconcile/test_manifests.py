"""The objects the operator writes and the Secrets it reads: custody, consumer and rotation Secrets round-trip through
their manifests, bad data parses as no value, and a bridge Deployment copies its consumer onto the rotation Secret."""

from __future__ import annotations

import base64
import copy
import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr

from snyk_broker_operator.models import (
    BRIDGE_OF_LABEL,
    BROKER_TOKEN_LABEL,
    ROLE_LABEL,
    TOKEN_FINGERPRINT_ANNOTATION,
    CustodyAnnotation,
    RotationAnnotation,
)
from snyk_broker_operator.models.enums import RotationPhase, RotationStrategy
from snyk_broker_operator.reconcile import manifests
from snyk_broker_operator.reconcile.consumers import workload_view
from snyk_broker_operator.reconcile.desired import rotation_secret_name
from snyk_broker_operator.reconcile.rotation import RotationRecord
from support.reconcile_builders import (
    CLONE,
    NEW_TOKEN,
    OTHER_ORG,
    SECRET_KEY,
    SECRET_NAME,
    TOKEN,
    TOKEN_VALUES,
    custody,
    deployment,
    desired,
    record,
    secret_env,
)

TEAM = OTHER_ORG
DESIRED = desired(generation=3, share_with=(TEAM,), secret_labels={"team": "platform"})
CUSTODY = custody(
    origin="org/x/integration/type:github",
    issued_at=datetime(2026, 11, 29, 11, tzinfo=UTC),
    clones={TEAM: CLONE},
    clones_started=frozenset({"0c000000-0000-4000-8000-00000000000c"}),
)
ROTATION_SECRET = rotation_secret_name(DESIRED.name)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret is not None else None


def test_custody_round_trips_through_its_secret_without_the_token_in_metadata() -> None:
    body = manifests.custody_secret(DESIRED, CUSTODY)
    assert TOKEN.get_secret_value() not in repr(body["metadata"])
    assert body["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    parsed = manifests.parse_custody(body)
    assert parsed is not None
    assert parsed.token is not None and parsed.token.get_secret_value() == TOKEN.get_secret_value()
    assert dataclasses.replace(parsed, token=None) == dataclasses.replace(CUSTODY, token=None)


def test_the_consumer_secret_is_a_projection_with_our_labels_and_owner() -> None:
    body = manifests.consumer_secret(DESIRED, TOKEN)
    state = manifests.secret_state(body, key="BROKER_TOKEN")
    assert state.token is not None and state.token.get_secret_value() == TOKEN.get_secret_value()
    assert state.controller_uid == "uid-1"
    assert state.labels["team"] == "platform"
    assert state.labels["app.kubernetes.io/managed-by"] == "snyk-broker-operator"
    assert state.annotations["snykbroker.dev/token-fingerprint"].startswith("sha256:")


def test_the_operator_owned_secrets_are_controlled_by_the_broker_token_and_labelled_with_their_role() -> None:
    assert manifests.owner_reference(DESIRED) == {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "BrokerToken",
        "name": "github",
        "uid": "uid-1",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    custody_body = manifests.custody_secret(DESIRED, CUSTODY)
    rotation_body = manifests.rotation_secret(DESIRED, record(RotationPhase.BRIDGING))
    assert (custody_body["metadata"]["name"], custody_body["metadata"]["labels"][ROLE_LABEL]) == (
        "github-snykbroker-custody",
        "custody",
    )
    assert (rotation_body["metadata"]["name"], rotation_body["metadata"]["labels"][ROLE_LABEL]) == (
        ROTATION_SECRET,
        "rotation",
    )
    assert rotation_body["metadata"]["ownerReferences"] == [manifests.owner_reference(DESIRED)]


def test_an_empty_custody_record_round_trips_as_empty() -> None:
    empty = custody(token=None, origin=None, integration_id=None, integration_type=None, issued_at=None, revision=0)
    body = manifests.custody_secret(DESIRED, empty)
    assert body["data"] == {}
    assert manifests.parse_custody(body) == empty


def custody_body(data: dict[str, str] | None = None, **annotations: str) -> dict[str, Any]:
    """The custody Secret of CUSTODY with `data` and the annotations named (as CustodyAnnotation members) replaced."""
    body = manifests.custody_secret(DESIRED, CUSTODY)
    body["metadata"]["annotations"].update({getattr(CustodyAnnotation, k.upper()): v for k, v in annotations.items()})
    if data is not None:
        body["data"] = data
    return body


@pytest.mark.parametrize(
    ("body", "field", "expected"),
    [
        (custody_body({"token": "not base64!"}), "token", ""),
        (custody_body({"token": b64(b"\xff\xfe")}), "token", ""),
        (
            custody_body({"token": b64(b"  " + TOKEN.get_secret_value().encode() + b"\n")}),
            "token",
            TOKEN.get_secret_value(),
        ),
        (custody_body({}), "token", None),
        (custody_body(revision="three"), "revision", 0),
        (custody_body(revision=""), "revision", 0),
        (custody_body(shared_with="{not json"), "clones", {}),
        (custody_body(shared_with='["a list"]'), "clones", {}),
        (custody_body(shared_with='{"org": 7}'), "clones", {"org": "7"}),
        (custody_body(share_conflicts="null"), "conflicts", {}),
        (custody_body(clones_started="{not json"), "clones_started", frozenset()),
        (custody_body(clones_started='{"a": "map"}'), "clones_started", frozenset()),
        (custody_body(clones_started=""), "clones_started", frozenset()),
        (custody_body(issued_at="yesterday"), "issued_at", None),
        (custody_body(origin="", last_rotate_request=""), "origin", None),
        ({"metadata": {}}, "revision", 0),
    ],
    ids=[
        "data that is not base64 is an empty token, which the UUID check reports",
        "data that is not UTF-8 is an empty token",
        "whitespace around the token is dropped",
        "no token key is no token",
        "a revision that is no number is revision zero",
        "an empty revision is revision zero",
        "a shared-with annotation that is not JSON is no clones",
        "a shared-with annotation that is not a JSON object is no clones",
        "shared-with values are read as strings",
        "a share-conflicts annotation of null is no conflicts",
        "a clones-started annotation that is not JSON is no clone started",
        "a clones-started annotation that is not a JSON list is no clone started",
        "an empty clones-started annotation is no clone started",
        "an issued-at annotation that is no time is never",
        "empty annotations are no value",
        "a Secret without annotations or data is an empty record",
    ],
)
def test_bad_custody_data_parses_as_no_value(body: dict[str, Any], field: str, expected: Any) -> None:
    parsed = manifests.parse_custody(body)
    assert parsed is not None
    got = getattr(parsed, field)
    assert (value(got) if field == "token" else got) == expected


def test_no_custody_secret_is_no_custody() -> None:
    assert manifests.parse_custody(None) is None


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (None, None, True),
        (TOKEN, None, False),
        (None, TOKEN, False),
        (TOKEN, SecretStr(TOKEN.get_secret_value()), True),
        (TOKEN, NEW_TOKEN, False),
    ],
    ids=[
        "two missing tokens are the same",
        "a token is not a missing one",
        "a missing token is not a token",
        "tokens are compared by value",
        "different tokens differ",
    ],
)
def test_same_secret(a: SecretStr | None, b: SecretStr | None, same: bool) -> None:
    assert manifests.same_secret(a, b) is same


def owned_by(*refs: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "s", "ownerReferences": list(refs)}, "data": {SECRET_KEY: b64(b"x")}}


@pytest.mark.parametrize(
    ("secret", "exists", "token", "controller_uid"),
    [
        (None, False, None, None),
        ({"metadata": {"name": "s"}}, True, None, None),
        (owned_by({"kind": "BrokerToken", "uid": "u1", "controller": True}), True, "x", "u1"),
        (owned_by({"kind": "BrokerToken", "uid": "u1"}), True, "x", None),
        (owned_by({"kind": "Deployment", "uid": "u2", "controller": True}), True, "x", None),
        (
            owned_by({"kind": "BrokerToken", "uid": "u0"}, {"kind": "BrokerToken", "uid": "u1", "controller": True}),
            True,
            "x",
            "u1",
        ),
    ],
    ids=[
        "no Secret is an absent one",
        "a Secret without the key has no token and no controller",
        "a BrokerToken that controls the Secret is its controller",
        "a BrokerToken that owns the Secret without controlling it is not its controller",
        "a controller of another kind is not a BrokerToken controller",
        "the controlling reference is found among several",
    ],
)
def test_secret_state(
    secret: dict[str, Any] | None, exists: bool, token: str | None, controller_uid: str | None
) -> None:
    got = manifests.secret_state(secret, key=SECRET_KEY)
    assert (got.exists, value(got.token), got.controller_uid) == (exists, token, controller_uid)


def test_a_secret_state_copies_the_labels_and_annotations_it_read() -> None:
    body = manifests.consumer_secret(DESIRED, TOKEN)
    got = manifests.secret_state(body, key=SECRET_KEY)
    assert (got.labels, got.annotations) == (body["metadata"]["labels"], body["metadata"]["annotations"])
    assert got.labels is not body["metadata"]["labels"]


@pytest.mark.parametrize(
    "rec",
    [
        record(RotationPhase.BRIDGING),
        record(RotationPhase.PROVISIONED, RotationStrategy.IN_PLACE, token=False),
        dataclasses.replace(record(RotationPhase.SWITCHED), started_at=None, request=None),
    ],
    ids=[
        "a bridge rotation holding its provisional token",
        "an in-place rotation written before its provision call, with no token yet",
        "a rotation with no start time and no request",
    ],
)
def test_a_rotation_record_round_trips_through_its_secret(rec: RotationRecord) -> None:
    body = manifests.rotation_secret(DESIRED, rec)
    assert not any(token in json.dumps(body["metadata"]) for token in TOKEN_VALUES)
    assert list(body["data"]) == ([SECRET_KEY] if rec.token else [])
    parsed = manifests.parse_rotation(body, key=SECRET_KEY)
    assert parsed is not None
    assert dataclasses.replace(parsed, token=None) == dataclasses.replace(rec, token=None)
    assert value(parsed.token) == value(rec.token)


def rotation_body(**annotations: str) -> dict[str, Any]:
    """A bridging rotation's Secret with the annotations named (as RotationAnnotation members) replaced."""
    body = manifests.rotation_secret(DESIRED, record(RotationPhase.BRIDGING))
    body["metadata"]["annotations"].update({getattr(RotationAnnotation, k.upper()): v for k, v in annotations.items()})
    return body


@pytest.mark.parametrize(
    "body",
    [
        rotation_body(phase="Exploded"),
        rotation_body(phase=""),
        rotation_body(strategy="Sideways"),
        rotation_body(trigger="Whim"),
        {"metadata": {"name": ROTATION_SECRET}},
    ],
    ids=[
        "an unknown phase",
        "an empty phase",
        "an unknown strategy",
        "an unknown trigger",
        "no annotations at all",
    ],
)
def test_a_rotation_secret_this_operator_did_not_write_is_ignored(body: dict[str, Any]) -> None:
    assert manifests.parse_rotation(body, key=SECRET_KEY) is None


@pytest.mark.parametrize(
    ("data", "token"),
    [
        ({SECRET_KEY: b64(b"")}, None),
        ({SECRET_KEY: "%%%"}, None),
        ({"other-key": b64(b"x")}, None),
        ({SECRET_KEY: b64(NEW_TOKEN.get_secret_value().encode())}, NEW_TOKEN.get_secret_value()),
    ],
    ids=[
        "an empty value is no provisional token yet",
        "an undecodable value is no provisional token",
        "a value under another key is no provisional token",
        "the provisional token is read under the consumer Secret's key",
    ],
)
def test_the_provisional_token_of_a_rotation_secret(data: dict[str, str], token: str | None) -> None:
    body = {**rotation_body(), "data": data}
    parsed = manifests.parse_rotation(body, key=SECRET_KEY)
    assert parsed is not None and value(parsed.token) == token
    assert manifests.parse_rotation(None, key=SECRET_KEY) is None


CONSUMER_POD = {
    "initContainers": [
        {"name": "init", "envFrom": [{"secretRef": {"name": SECRET_NAME}}, {"configMapRef": {"name": "c"}}]}
    ],
    "containers": [
        {
            "name": "broker",
            "env": [
                secret_env(SECRET_NAME),
                secret_env("github-app", key="APP_KEY"),
                {"name": "PLAIN", "value": "x"},
            ],
            "envFrom": [{"secretRef": {"name": "unrelated"}}],
        }
    ],
    "volumes": [
        {"name": "token", "secret": {"secretName": SECRET_NAME}},
        {"name": "certs", "secret": {"secretName": "ca-bundle"}},
        {"name": "scratch", "emptyDir": {}},
        {
            "name": "projected",
            "projected": {
                "sources": [
                    {"secret": {"name": SECRET_NAME}},
                    {"secret": {"name": "ca-bundle"}},
                    {"configMap": {"name": "c"}},
                ]
            },
        },
    ],
}
CONSUMER = deployment(
    "broker",
    pod_labels={"app": "broker", "team": "platform"},
    pod_spec=CONSUMER_POD,
    fingerprint="sha256:000000000000",
    replicas=3,
)
CONSUMER["spec"]["template"]["metadata"]["annotations"]["checksum/config"] = "abc"


def bridge() -> dict[str, Any]:
    return manifests.bridge_deployment(DESIRED, workload_view(CONSUMER), "sha256:111111111111")


def test_a_bridge_reads_every_reference_to_the_consumer_secret_from_the_rotation_secret_instead() -> None:
    pod = bridge()["spec"]["template"]["spec"]
    init, main = pod["initContainers"][0], pod["containers"][0]
    assert [s.get("secretRef", {}).get("name") for s in init["envFrom"]] == [ROTATION_SECRET, None]
    assert [(e.get("valueFrom") or {}).get("secretKeyRef") for e in main["env"]] == [
        {"name": ROTATION_SECRET, "key": SECRET_KEY},
        {"name": "github-app", "key": "APP_KEY"},
        None,
    ]
    assert main["envFrom"] == [{"secretRef": {"name": "unrelated"}}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["token"]["secret"] == {"secretName": ROTATION_SECRET}
    assert volumes["certs"]["secret"] == {"secretName": "ca-bundle"}
    assert volumes["scratch"] == {"name": "scratch", "emptyDir": {}}
    assert volumes["projected"]["projected"]["sources"] == [
        {"secret": {"name": ROTATION_SECRET}},
        {"secret": {"name": "ca-bundle"}},
        {"configMap": {"name": "c"}},
    ]


def test_a_bridge_is_one_replica_that_drops_the_labels_its_consumer_selects_by() -> None:
    body = bridge()
    bridge_labels = {
        "app.kubernetes.io/managed-by": "snyk-broker-operator",
        BROKER_TOKEN_LABEL: "github",
        ROLE_LABEL: "bridge",
        BRIDGE_OF_LABEL: "broker",
    }
    assert body["metadata"] == {
        "name": "broker-snykbroker-bridge",
        "namespace": "ns",
        "labels": bridge_labels,
        "ownerReferences": [manifests.owner_reference(DESIRED)],
    }
    assert (body["spec"]["replicas"], body["spec"]["selector"]) == (1, {"matchLabels": bridge_labels})
    template = body["spec"]["template"]["metadata"]
    assert template["labels"] == {"team": "platform", **bridge_labels}
    assert template["annotations"] == {TOKEN_FINGERPRINT_ANNOTATION: "sha256:111111111111", "checksum/config": "abc"}


def test_building_a_bridge_leaves_the_consumer_as_it_was_read() -> None:
    before = copy.deepcopy(CONSUMER)
    bridge()
    assert before == CONSUMER


def test_a_consumer_read_without_a_template_still_gets_a_labelled_bridge() -> None:
    body = manifests.bridge_deployment(DESIRED, workload_view({"metadata": {"name": "bare"}}), "sha256:111111111111")
    template = body["spec"]["template"]
    assert template["metadata"]["labels"][BRIDGE_OF_LABEL] == "bare"
    assert template["metadata"]["annotations"] == {TOKEN_FINGERPRINT_ANNOTATION: "sha256:111111111111"}
    assert "spec" not in template
