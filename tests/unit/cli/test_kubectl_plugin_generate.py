"""`kubectl snyk-broker generate`: the manifest is built from the models, carries only what was asked for (defaults
stay in code), and every invalid value is refused naming the option it came from."""

from __future__ import annotations

import pytest

from snyk_broker_operator.models import BrokerToken, ConnectionKind
from snyk_broker_operator.plugin import generate

ORG = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
GITHUB = "1a000000-0000-4000-8000-0000000000a1"


def test_a_minimal_request_gives_a_minimal_manifest_named_after_the_type() -> None:
    manifest = generate.manifest(generate.Request(org_id=ORG, connection="snyk", integration_type="github"))

    assert manifest == {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "BrokerToken",
        "metadata": {"name": "github"},
        "spec": {
            "connectionRef": {"name": "snyk"},
            "orgId": ORG,
            "integration": {"type": "github"},
            "source": {"provision": {}},
        },
    }


def test_every_option_lands_in_its_field_and_the_models_read_it_back() -> None:
    request = generate.Request(
        org_id=ORG,
        connection="snyk-eu",
        cluster_connection=True,
        integration_id=GITHUB,
        name="platform-github",
        namespace="team-a",
        share_with=(ORG_B,),
        rotate_every="2160h",
        secret_name="github-broker-token",
    )

    manifest = generate.manifest(request)
    token = BrokerToken.model_validate(manifest)

    assert manifest["metadata"] == {"name": "platform-github", "namespace": "team-a"}
    assert token.spec.connection_ref.effective_kind is ConnectionKind.CLUSTER_SNYK_CONNECTION
    assert token.spec.integration.id == GITHUB and token.spec.share_with_org_ids == (ORG_B,)
    assert token.secret_name == "github-broker-token" and token.spec.rotation is not None
    assert token.spec.rotation.every == "2160h"
    assert token.spec.to_json_dict() == manifest["spec"]


def test_an_integration_given_by_id_is_named_after_its_id() -> None:
    manifest = generate.manifest(generate.Request(org_id=ORG, connection="snyk", integration_id=GITHUB))

    assert manifest["metadata"]["name"] == "integration-1a000000"


@pytest.mark.parametrize(
    ("request_", "said"),
    [
        (
            generate.Request(org_id=ORG.upper(), connection="snyk", integration_type="github"),
            "--org: must be a lowercase UUID",
        ),
        (generate.Request(org_id=ORG, connection="snyk", integration_type="githubx"), "--integration-type"),
        (generate.Request(org_id=ORG, connection="snyk", integration_id="12"), "--integration-type/--integration-id"),
        (generate.Request(org_id=ORG, connection="Snyk", integration_type="github"), "--connection: must be an object"),
        (
            generate.Request(org_id=ORG, connection="snyk", integration_type="github", rotate_every="5s"),
            "--rotate-every: spec.rotation.every must be at least 10s",
        ),
        (
            generate.Request(org_id=ORG, connection="snyk", integration_type="github", rotate_every="90d"),
            "--rotate-every: must be a duration",
        ),
        (
            generate.Request(org_id=ORG, connection="snyk", integration_type="github", share_with=(ORG,)),
            "spec.shareWith must not list spec.orgId",
        ),
        (
            generate.Request(org_id=ORG, connection="snyk", integration_type="github", secret_name="A_B"),
            "--secret-name: must be an object name",
        ),
        (generate.Request(org_id=ORG, connection="snyk", integration_type="github", name="Github"), "--name:"),
    ],
    ids=[
        "an uppercase org id",
        "an unknown integration type",
        "an integration id that is no UUID",
        "a connection name with capitals",
        "a schedule under ten seconds",
        "a schedule in days",
        "sharing with its own org",
        "a secret name with an underscore",
        "a name with capitals",
    ],
)
def test_an_invalid_value_is_refused_naming_its_option(request_: generate.Request, said: str) -> None:
    with pytest.raises(generate.Invalid) as refused:
        generate.manifest(request_)

    assert said in str(refused.value)
