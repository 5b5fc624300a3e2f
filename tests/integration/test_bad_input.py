"""Bad input gets a clear error and loses nothing: refused at apply time by the schema where it can be, otherwise
a Stalled condition that says what to fix, while a valid BrokerToken beside it still becomes Ready."""

from __future__ import annotations

import copy
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from support import snyk as world
from support.env import GROUP, VERSION, Env, broker_token
from unit.models.invalid_objects import INVALID_OBJECTS, VALID_OBJECTS

PLURALS = {"BrokerToken": "brokertokens", "SnykConnection": "snykconnections"}


@pytest.fixture(scope="module")
def schema_namespace(kube_api: client.ApiClient, crds_installed: None) -> Iterator[str]:
    core = client.CoreV1Api(kube_api)
    name = f"t-schema-{secrets.token_hex(3)}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)


def _create(api: client.ApiClient, namespace: str, obj: dict[str, Any]) -> None:
    objects = client.CustomObjectsApi(api)
    body = copy.deepcopy(obj)
    body["metadata"]["name"] = f"{body['metadata']['name'][:40]}-{secrets.token_hex(3)}"
    kind = body["kind"]
    if kind == "ClusterSnykConnection":
        objects.create_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", body)
        objects.delete_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", body["metadata"]["name"])
    else:
        objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], body)


@pytest.mark.parametrize(
    ("obj", "says"), [(o, s) for _, o, s in INVALID_OBJECTS], ids=[i for i, _, _ in INVALID_OBJECTS]
)
def test_the_api_server_refuses_an_invalid_object_with_a_clear_message(
    kube_api: client.ApiClient, schema_namespace: str, obj: dict[str, Any], says: str
) -> None:
    with pytest.raises(ApiException) as refused:
        _create(kube_api, schema_namespace, obj)
    body = refused.value.body
    assert refused.value.status == 422, body
    assert body is not None
    assert says in json.loads(body)["message"]


@pytest.mark.parametrize("obj", [o for _, o in VALID_OBJECTS], ids=[i for i, _ in VALID_OBJECTS])
def test_the_api_server_accepts_valid_objects(
    kube_api: client.ApiClient, schema_namespace: str, obj: dict[str, Any]
) -> None:
    _create(kube_api, schema_namespace, obj)


def _connection(env: Env, name: str, key: str | None) -> None:
    if key is not None:
        env.create_secret(f"{name}-api-key", {"apiToken": key})
    env.create(
        "snykconnections",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": name},
            "spec": {
                "apiUrl": env.simulator.base_url.removesuffix("/v1"),
                "apiTokenSecretRef": {"name": f"{name}-api-key"},
            },
        },
    )


# (name, spec changes, expected Stalled reason, substring of the message)
RUNTIME_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown-org", {"orgId": world.ORG_UNKNOWN}, "IntegrationNotFound", world.ORG_UNKNOWN),
    ("no-such-type", {"integration": {"type": "bitbucket-cloud"}}, "IntegrationNotFound", "bitbucket-cloud"),
    ("no-such-id", {"integration": {"id": world.ELSEWHERE_GITHUB}}, "IntegrationNotFound", world.ELSEWHERE_GITHUB),
    ("revoked-key", {"connectionRef": {"name": "revoked"}}, "AuthenticationFailed", ""),
    ("no-access", {"connectionRef": {"name": "team-a-only"}}, "AuthenticationFailed", world.ORG_PLATFORM),
    ("no-connection", {"connectionRef": {"name": "missing"}}, "ConnectionNotFound", "'missing' not found"),
    ("no-key-secret", {"connectionRef": {"name": "keyless"}}, "ConnectionNotReady", "keyless-api-key"),
    ("taken-secret", {"secret": {"name": "someone-elses"}}, "SecretConflict", "someone-elses"),
    ("given-missing", {"source": {"existingSecretRef": {"name": "nope"}}}, "SourceSecretNotFound", "'nope' not found"),
    (
        "given-no-key",
        {"source": {"existingSecretRef": {"name": "given", "key": "other"}}},
        "SourceKeyNotFound",
        "other",
    ),
    ("given-not-uuid", {"source": {"existingSecretRef": {"name": "garbage"}}}, "InvalidToken", "existingSecretRef"),
    (
        "given-is-target",
        {"source": {"existingSecretRef": {"name": "given"}}, "secret": {"name": "given"}},
        "SecretConflict",
        "spec.secret.name",
    ),
    (
        "share-given",
        {"source": {"existingSecretRef": {"name": "given"}}, "shareWith": [{"orgId": world.ORG_TEAM_A}]},
        "ShareNeedsProvision",
        "spec.shareWith",
    ),
    (
        "share-other-group",
        {"integration": {"type": "gitlab"}, "shareWith": [{"orgId": world.ORG_ELSEWHERE}]},
        "AuthenticationFailed",  # the key cannot see an org of another group: Snyk answers 403
        world.ORG_ELSEWHERE,
    ),
]


def test_runtime_problems_stall_with_specific_messages_while_a_valid_token_becomes_ready(env: Env) -> None:
    revoked = "test-key-revoked-0003"
    env.sim.add_key(revoked, group=world.GROUP)
    env.sim.revoke(revoked)
    env.extra_secrets.add(revoked)
    _connection(env, "revoked", revoked)
    _connection(env, "team-a-only", world.TEAM_A_ONLY_KEY)
    _connection(env, "keyless", None)
    given = str(uuid.uuid4())
    env.extra_secrets.add(given)
    env.create_secret("given", {"BROKER_TOKEN": given})
    env.create_secret("garbage", {"BROKER_TOKEN": "12345"})
    env.create_secret("someone-elses", {"BROKER_TOKEN": "keep me"})
    pid_before = env.operator._process.pid if env.operator._process else None

    for name, spec, _, _ in RUNTIME_CASES:
        env.create("brokertokens", broker_token(name, **spec))
    # Two BrokerTokens naming one Secret: whichever comes second is Stalled, the first is Ready.
    env.create("brokertokens", broker_token("first-owner", secret={"name": "contested"}))
    env.wait_condition("first-owner", "Ready", timeout=20)
    env.create(
        "brokertokens", broker_token("second-owner", integration={"type": "gitlab"}, secret={"name": "contested"})
    )
    env.create("brokertokens", broker_token("valid", integration={"type": "gitlab"}))

    env.wait_condition("valid", "Ready", timeout=30)
    for name, _, reason, says in RUNTIME_CASES:
        stalled = env.wait_condition(name, "Stalled", timeout=30)
        assert stalled["reason"] == reason, (name, stalled)
        assert says in stalled["message"], (name, stalled["message"])
        assert env.condition(name, "Ready")["status"] == "False"  # type: ignore[index]
    contested = env.wait_condition("second-owner", "Stalled", timeout=30)
    assert contested["reason"] == "SecretConflict" and "first-owner" in contested["message"]

    assert env.token_in("someone-elses") == "keep me", "a Secret that is not ours was overwritten"
    assert env.operator.running and env.operator._process is not None and env.operator._process.pid == pid_before
    assert "Traceback" not in env.operator.log_text()
    env.wait_events("SecretConflict", "InvalidToken", "IntegrationNotFound", warning=True)
