"""The models refuse what the CRD refuses (schema and CEL rules mirrored in pydantic), and default in code."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from snyk_broker_operator.models import (
    MIN_ROTATION_INTERVAL,
    BrokerToken,
    BrokerTokenSpec,
    ClusterSnykConnection,
    ConnectionKind,
    DeletionPolicy,
    IntegrationType,
    Region,
    RotationStrategy,
    SnykConnection,
    SnykConnectionSpec,
    brokertoken,
    connection,
    parse_go_duration,
)
from snyk_broker_operator.models.common import LABEL_REQUIREMENT_VALUES
from unit.models.invalid_objects import INVALID_OBJECTS, INVALID_UPDATES, VALID_OBJECTS

MODELS: dict[str, type[BaseModel]] = {
    "BrokerToken": BrokerToken,
    "SnykConnection": SnykConnection,
    "ClusterSnykConnection": ClusterSnykConnection,
}
CEL_MESSAGES = {
    rule.message
    for rule in (
        brokertoken.INTEGRATION_EXACTLY_ONE,
        brokertoken.SOURCE_EXACTLY_ONE,
        brokertoken.SHARE_WITH_NOT_OWN_ORG,
        brokertoken.ROTATION_MINIMUM,
        connection.REGION_OR_API_URL,
        connection.API_URL_SCHEME,
        LABEL_REQUIREMENT_VALUES,
    )
}
ORG = "0b6a3c1e-5d2f-4a8b-9c7d-1e2f3a4b5c6d"
MINIMAL_SPEC: dict[str, Any] = {
    "connectionRef": {"name": "snyk-eu"},
    "orgId": ORG,
    "integration": {"type": "gitlab"},
    "source": {"provision": {}},
}


@pytest.mark.parametrize(("obj", "expected"), [row[1:] for row in INVALID_OBJECTS], ids=[r[0] for r in INVALID_OBJECTS])
def test_an_object_the_api_server_refuses_is_refused_by_the_models(obj: dict[str, Any], expected: str) -> None:
    with pytest.raises(ValidationError) as refused:
        MODELS[obj["kind"]].model_validate(obj)

    if any(expected in message for message in CEL_MESSAGES):
        assert expected in str(refused.value)


def test_every_cel_message_is_exercised_by_the_invalid_objects_table() -> None:
    expectations = [expected for _, _, expected in INVALID_OBJECTS] + [expected for *_, expected in INVALID_UPDATES]
    for message in CEL_MESSAGES | {brokertoken.ORG_ID_IMMUTABLE.message}:
        assert any(expected in message for expected in expectations), message


@pytest.mark.parametrize("obj", [row[1] for row in VALID_OBJECTS], ids=[row[0] for row in VALID_OBJECTS])
def test_an_object_the_api_server_accepts_is_accepted_by_the_models(obj: dict[str, Any]) -> None:
    MODELS[obj["kind"]].model_validate(obj)


@pytest.mark.parametrize(
    ("before", "after"), [row[1:3] for row in INVALID_UPDATES], ids=[row[0] for row in INVALID_UPDATES]
)
def test_transition_rules_are_left_to_the_api_server(before: dict[str, Any], after: dict[str, Any]) -> None:
    # Each side alone is valid; only the API server, comparing old and new, refuses the update.
    MODELS[before["kind"]].model_validate(before)
    MODELS[after["kind"]].model_validate(after)


def test_table_object_names_are_unique_so_they_can_be_applied_side_by_side() -> None:
    names = [(obj["kind"], obj["metadata"]["name"]) for _, obj, _ in INVALID_OBJECTS]
    names += [(obj["kind"], obj["metadata"]["name"]) for _, obj in VALID_OBJECTS]
    assert len(names) == len(set(names))


def test_a_minimal_broker_token_gets_its_defaults_in_code() -> None:
    spec = BrokerTokenSpec.model_validate(MINIMAL_SPEC)

    assert spec.connection_ref.effective_kind is ConnectionKind.SNYK_CONNECTION
    assert spec.integration.type is IntegrationType.GITLAB
    assert spec.effective_secret_name("my-token") == "my-token"
    assert spec.effective_secret_key == "BROKER_TOKEN"
    assert spec.effective_secret_labels == {}
    assert spec.effective_secret_annotations == {}
    assert spec.consumer_selector is None
    assert spec.rotation_interval is None
    assert spec.effective_rotation_strategy is RotationStrategy.BRIDGE
    assert spec.effective_deletion_policy is DeletionPolicy.RETAIN
    assert spec.share_with_org_ids == ()


def test_defaults_in_code_never_reach_the_wire() -> None:
    spec = BrokerTokenSpec.model_validate(MINIMAL_SPEC)

    assert spec.to_json_dict() == MINIMAL_SPEC


def test_a_rotation_strategy_without_a_schedule_means_rotation_on_request_with_that_strategy() -> None:
    spec = BrokerTokenSpec.model_validate(MINIMAL_SPEC | {"rotation": {"strategy": "InPlace"}})

    assert spec.rotation_interval is None
    assert spec.effective_rotation_strategy is RotationStrategy.IN_PLACE


def test_python_field_names_are_accepted_as_well_as_the_camel_case_ones() -> None:
    spec = BrokerTokenSpec(
        connection_ref={"name": "snyk-eu"},
        org_id=ORG,
        integration={"id": "3c9d8e7f-6a5b-4c4d-8e3f-2a1b0c9d8e7f"},
        source={"existing_secret_ref": {"name": "given"}},
    )

    assert spec.to_json_dict()["source"] == {"existingSecretRef": {"name": "given"}}


def test_a_spec_is_frozen() -> None:
    spec = BrokerTokenSpec.model_validate(MINIMAL_SPEC)

    with pytest.raises(ValidationError, match="frozen"):
        spec.org_id = "7f3e2d1c-0b9a-4876-8543-210fedcba987"  # type: ignore[misc]


def test_an_unknown_spec_field_is_refused_so_typos_fail_loudly() -> None:
    with pytest.raises(ValidationError, match="shareWit"):
        BrokerTokenSpec.model_validate(MINIMAL_SPEC | {"shareWit": []})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2160h", timedelta(days=90)),
        ("1h30m", timedelta(minutes=90)),
        ("90m", timedelta(minutes=90)),
        ("1m", timedelta(minutes=1)),
        ("45s", timedelta(seconds=45)),
        ("1h0m5s", timedelta(hours=1, seconds=5)),
    ],
)
def test_go_durations_parse(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90d", "1.5h", "5s5h", "h", "-1h", "1000000h"])
def test_malformed_go_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_go_duration(text)


def test_the_minimum_rotation_interval_is_ten_seconds_in_code_and_in_the_cel_rule() -> None:
    assert MIN_ROTATION_INTERVAL.total_seconds() == 10
    assert "duration('10s')" in brokertoken.ROTATION_MINIMUM.rule


@pytest.mark.parametrize(
    ("region", "url"),
    [
        (Region.SNYK_US_01, "https://api.snyk.io"),
        (Region.SNYK_US_02, "https://api.us.snyk.io"),
        (Region.SNYK_EU_01, "https://api.eu.snyk.io"),
        (Region.SNYK_AU_01, "https://api.au.snyk.io"),
    ],
)
def test_each_region_has_its_api_url(region: Region, url: str) -> None:
    spec = SnykConnectionSpec.model_validate({"region": region, "apiTokenSecretRef": {"name": "snyk"}})

    assert spec.effective_api_url == url


def test_an_explicit_api_url_is_used_without_its_trailing_slash() -> None:
    spec = SnykConnectionSpec.model_validate({"apiUrl": "http://127.0.0.1:8080/", "apiTokenSecretRef": {"name": "s"}})

    assert spec.effective_api_url == "http://127.0.0.1:8080"


def test_a_connection_without_a_budget_gets_the_default_budget_and_key() -> None:
    spec = SnykConnectionSpec.model_validate({"region": "SNYK-US-01", "apiTokenSecretRef": {"name": "snyk"}})

    assert spec.effective_request_budget.effective_requests_per_minute == connection.DEFAULT_REQUESTS_PER_MINUTE
    assert spec.effective_request_budget.effective_max_concurrency == connection.DEFAULT_MAX_CONCURRENCY
    assert spec.api_token_secret_ref.effective_key == "apiToken"
    assert connection.DEFAULT_REQUESTS_PER_MINUTE < 2000
