"""The samples in deploy/samples parse with the models, and the models add nothing to them on the way out."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from snyk_broker_operator.models import (
    BrokerToken,
    ClusterSnykConnection,
    ConnectionKind,
    DeletionPolicy,
    Region,
    RotationStrategy,
    SnykConnection,
)

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "deploy" / "samples"
MODELS: dict[str, type[BaseModel]] = {
    "BrokerToken": BrokerToken,
    "SnykConnection": SnykConnection,
    "ClusterSnykConnection": ClusterSnykConnection,
}
# Samples of our own kinds; deploy/samples also holds a broker-client Deployment that consumes a token.
SAMPLES = sorted(
    path
    for path in SAMPLES_DIR.glob("*.yaml")
    if path.name != "kustomization.yaml" and yaml.safe_load(path.read_text()).get("kind") in MODELS
)


def _load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((SAMPLES_DIR / name).read_text())
    return document


def test_there_is_a_sample_of_every_kind() -> None:
    kinds = {yaml.safe_load(path.read_text())["kind"] for path in SAMPLES}
    assert kinds == set(MODELS)


@pytest.mark.parametrize("path", SAMPLES, ids=[path.name for path in SAMPLES])
def test_a_sample_parses_and_its_spec_dumps_back_unchanged(path: Path) -> None:
    document = yaml.safe_load(path.read_text())
    model = MODELS[document["kind"]].model_validate(document)

    assert model.spec.to_json_dict() == document["spec"]  # type: ignore[attr-defined]


def test_the_snyk_connection_sample_uses_the_eu_region() -> None:
    connection = SnykConnection.model_validate(_load("snykconnection.yaml"))

    assert connection.spec.region is Region.SNYK_EU_01
    assert connection.spec.effective_api_url == "https://api.eu.snyk.io"
    assert connection.spec.api_token_secret_ref.effective_key == "apiToken"


def test_the_cluster_snyk_connection_sample_has_a_smaller_budget_and_the_default_key() -> None:
    connection = ClusterSnykConnection.model_validate(_load("clustersnykconnection.yaml"))

    assert connection.spec.effective_request_budget.effective_requests_per_minute == 300
    assert connection.spec.effective_request_budget.effective_max_concurrency == 2
    assert connection.spec.api_token_secret_ref.effective_key == "apiToken"


def test_the_github_sample_provisions_and_shares_with_a_second_org() -> None:
    token = BrokerToken.model_validate(_load("brokertoken-github-provision.yaml"))

    assert token.spec.source.provision is not None
    assert token.spec.share_with_org_ids == ("7f3e2d1c-0b9a-4876-8543-210fedcba987",)
    assert token.spec.connection_ref.effective_kind is ConnectionKind.SNYK_CONNECTION
    assert token.secret_name == "github-broker-token"
    assert token.spec.effective_secret_key == "BROKER_TOKEN"


def test_the_existing_secret_sample_reads_its_own_key_and_writes_a_secret_named_after_itself() -> None:
    token = BrokerToken.model_validate(_load("brokertoken-existing-secret.yaml"))

    existing = token.spec.source.existing_secret_ref
    assert existing is not None
    assert (existing.name, existing.effective_key) == ("gitlab-given-token", "token")
    assert token.secret_name == "gitlab"
    assert token.spec.rotation_interval is None


def test_the_rotation_sample_rotates_every_90_days_with_a_bridge() -> None:
    token = BrokerToken.model_validate(_load("brokertoken-rotation.yaml"))

    assert token.spec.rotation_interval == timedelta(days=90)
    assert token.spec.effective_rotation_strategy is RotationStrategy.BRIDGE
    assert token.spec.effective_deletion_policy is DeletionPolicy.RETAIN
    assert token.spec.connection_ref.effective_kind is ConnectionKind.CLUSTER_SNYK_CONNECTION
    selector = token.spec.consumer_selector
    assert selector is not None
    assert selector.matches({"app.kubernetes.io/name": "snyk-broker-bitbucket"})
    assert not selector.matches({"app.kubernetes.io/name": "snyk-broker-github"})
