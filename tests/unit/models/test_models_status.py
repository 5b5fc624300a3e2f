"""Status models: a computed status survives the round trip through the API server unchanged (converged means
quiet), timestamps are whole-second UTC, fingerprints never reveal the token, and newer fields are tolerated."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import SecretStr, ValidationError

from snyk_broker_operator.models import (
    BrokerToken,
    BrokerTokenStatus,
    Condition,
    ConditionReason,
    ConditionStatus,
    ConditionType,
    ConsumerKind,
    ConsumerState,
    ConsumerStatus,
    LabelSelector,
    RotationPhase,
    RotationStatus,
    RotationStrategy,
    RotationTrigger,
    SharedWithStatus,
    ShareState,
    SnykConnectionStatus,
    fingerprint_of,
)

TOKEN = SecretStr("4a6f0e0c-3f0e-4d5e-9a7b-2c1d0e9f8a7b")
NOW = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC)


def _status() -> BrokerTokenStatus:
    ready = Condition(
        type=ConditionType.READY,
        status=ConditionStatus.TRUE,
        reason=ConditionReason.RECONCILED,
        message="token in Secret github, 2/2 consumers current",
        last_transition_time=NOW,
        observed_generation=3,
    )
    return BrokerTokenStatus(
        observed_generation=3,
        conditions=(ready,),
        integration_id="3c9d8e7f-6a5b-4c4d-8e3f-2a1b0c9d8e7f",
        token_fingerprint=fingerprint_of(TOKEN),
        revision=2,
        issued_at=NOW,
        next_rotation_at=NOW + timedelta(hours=2160),
        shared_with=(SharedWithStatus(org_id="7f3e2d1c-0b9a-4876-8543-210fedcba987", state=ShareState.SHARED),),
        consumers=(
            ConsumerStatus(
                kind=ConsumerKind.DEPLOYMENT,
                name="broker",
                fingerprint=fingerprint_of(TOKEN),
                desired_replicas=2,
                updated_replicas=2,
                available_replicas=2,
                state=ConsumerState.CURRENT,
            ),
        ),
        consumers_ready="2/2",
        rotation=RotationStatus(
            phase=RotationPhase.BRIDGING,
            strategy=RotationStrategy.BRIDGE,
            started_at=NOW,
            provisional_fingerprint="sha256:0123456789ab",
            trigger=RotationTrigger.ANNOTATION,
        ),
        last_rotate_request="2026-03-04T05:00:00Z",
        failed_attempts=0,
    )


def test_a_status_read_back_from_the_api_server_equals_the_status_written() -> None:
    written = _status()

    read_back = BrokerTokenStatus.model_validate(written.to_json_dict())

    assert read_back == written


def test_timestamps_are_written_as_whole_second_utc() -> None:
    wire = _status().to_json_dict()

    assert wire["issuedAt"] == "2026-03-04T05:06:07Z"
    assert wire["conditions"][0]["lastTransitionTime"] == "2026-03-04T05:06:07Z"
    assert wire["nextRotationAt"] == "2026-06-02T05:06:07Z"


def test_a_timestamp_in_another_zone_is_stored_as_the_same_instant_in_utc() -> None:
    plus_two = datetime(2026, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))

    status = BrokerTokenStatus(issued_at=plus_two)

    assert status.issued_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_a_naive_timestamp_is_refused() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        BrokerTokenStatus(issued_at=datetime(2026, 3, 4, 5, 6, 7))


def test_the_fingerprint_is_sha256_and_twelve_hex_digits_and_never_the_token() -> None:
    fingerprint = fingerprint_of(TOKEN)

    assert re.fullmatch(r"sha256:[0-9a-f]{12}", fingerprint)
    assert fingerprint == "sha256:" + hashlib.sha256(TOKEN.get_secret_value().encode()).hexdigest()[:12]
    assert TOKEN.get_secret_value() not in str(_status().to_json_dict())
    assert TOKEN.get_secret_value() not in repr(_status())


def test_a_malformed_fingerprint_is_refused() -> None:
    with pytest.raises(ValidationError):
        BrokerTokenStatus(token_fingerprint="sha256:" + "0" * 64)


def test_fields_a_newer_operator_wrote_are_ignored() -> None:
    wire = _status().to_json_dict() | {"somethingNew": {"x": 1}}

    assert BrokerTokenStatus.model_validate(wire) == _status()


def test_a_condition_is_found_by_type() -> None:
    status = _status()

    ready = status.condition(ConditionType.READY)
    assert ready is not None
    assert ready.status is ConditionStatus.TRUE
    assert status.condition(ConditionType.STALLED) is None
    assert SnykConnectionStatus().condition(ConditionType.READY) is None


def test_an_empty_status_dumps_to_an_empty_object() -> None:
    assert BrokerTokenStatus().to_json_dict() == {}


def test_a_whole_broker_token_with_status_and_annotations_parses() -> None:
    body = {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "BrokerToken",
        "metadata": {
            "name": "github",
            "namespace": "brokers",
            "generation": 3,
            "uid": "d5b0c6b2-8a7e-4f3c-9e1d-0a2b3c4d5e6f",
            "creationTimestamp": "2026-03-01T00:00:00Z",
            "annotations": {"snykbroker.dev/rotate-requested-at": "now"},
            "managedFields": [{"manager": "kubectl"}],
        },
        "spec": {
            "connectionRef": {"name": "snyk-eu"},
            "orgId": "0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d",
            "integration": {"type": "github"},
            "source": {"provision": {}},
        },
        "status": _status().to_json_dict(),
    }

    token = BrokerToken.model_validate(body)

    assert token.metadata.namespace == "brokers"
    assert token.rotate_requested_at == "now"
    assert token.secret_name == "github"
    assert token.status == _status()


@pytest.mark.parametrize(
    ("selector", "labels", "selected"),
    [
        ({}, {"app": "x"}, True),
        ({"matchLabels": {"app": "broker"}}, {"app": "broker", "tier": "a"}, True),
        ({"matchLabels": {"app": "broker"}}, {"app": "other"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["a", "b"]}]}, {"tier": "b"}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"app": "x"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"app": "x"}, True),
    ],
)
def test_a_label_selector_selects_like_kubernetes(
    selector: dict[str, object], labels: dict[str, str], selected: bool
) -> None:
    assert LabelSelector.model_validate(selector).matches(labels) is selected


def test_a_label_selector_needs_every_label_and_every_expression_to_hold() -> None:
    selector = LabelSelector.model_validate(
        {
            "matchLabels": {"b": "2", "a": "1"},
            "matchExpressions": [
                {"key": "t", "operator": "In", "values": ["x", "y"]},
                {"key": "u", "operator": "NotIn", "values": ["z"]},
                {"key": "v", "operator": "Exists"},
                {"key": "w", "operator": "DoesNotExist"},
            ],
        }
    )

    selected = {"a": "1", "b": "2", "t": "x", "u": "y", "v": ""}
    assert selector.matches(selected)
    assert not selector.matches({**selected, "a": "0"})  # matchLabels value differs
    assert not selector.matches({**selected, "t": "z"})  # In
    assert not selector.matches({**selected, "u": "z"})  # NotIn
    assert not selector.matches({k: v for k, v in selected.items() if k != "v"})  # Exists
    assert not selector.matches({**selected, "w": "1"})  # DoesNotExist
