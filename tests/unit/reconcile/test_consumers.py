"""Consumers: which workloads read the token (by reference or selector), what they run, and how their rollout stands."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from snyk_broker_operator.models import BRIDGE_OF_LABEL, BROKER_TOKEN_LABEL, LabelSelector, fingerprint_of
from snyk_broker_operator.models.enums import ConsumerReason, ConsumerState
from snyk_broker_operator.reconcile import consumers
from snyk_broker_operator.reconcile.consumers import Workload
from support.reconcile_builders import NEW_TOKEN, SECRET_NAME, deployment, secret_env, workload

NEW = NEW_TOKEN


def pod_spec(**parts: Any) -> dict[str, Any]:
    return {"containers": [{"name": "c", **parts}]}


@pytest.mark.parametrize(
    "spec",
    [
        pod_spec(env=[{"name": "BROKER_TOKEN", "valueFrom": {"secretKeyRef": {"name": "tok", "key": "BROKER_TOKEN"}}}]),
        pod_spec(envFrom=[{"secretRef": {"name": "tok"}}]),
        {"containers": [{"name": "c"}], "volumes": [{"name": "v", "secret": {"secretName": "tok"}}]},
        {
            "containers": [{"name": "c"}],
            "volumes": [{"name": "v", "projected": {"sources": [{"secret": {"name": "tok"}}]}}],
        },
        {"containers": [{"name": "c"}], "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "tok"}}]}]},
    ],
    ids=["env secretKeyRef", "envFrom", "secret volume", "projected volume", "init container"],
)
def test_a_pod_template_reading_the_secret_is_a_consumer(spec: dict[str, Any]) -> None:
    assert "tok" in consumers.referenced_secrets(spec)
    assert "other" not in consumers.referenced_secrets(spec)


def test_references_without_a_secret_name_are_not_secrets() -> None:
    spec = {
        "containers": [
            {
                "name": "c",
                "env": [
                    {"name": "PLAIN", "value": "x"},
                    {"name": "CM", "valueFrom": {"configMapKeyRef": {"name": "c"}}},
                ],
                "envFrom": [{"configMapRef": {"name": "cm"}}],
            }
        ],
        "volumes": [{"name": "empty", "emptyDir": {}}, {"name": "p", "projected": {"sources": [{"configMap": {}}]}}],
    }
    assert consumers.referenced_secrets(spec) == set()


def test_consumer_state_follows_the_rollout() -> None:
    fp = fingerprint_of(NEW)
    assert consumers.state_of(workload(fingerprint=None), fp)[0] == ConsumerState.PENDING
    assert consumers.state_of(workload(fingerprint=fp, observed_generation=1), fp)[0] == ConsumerState.ROLLING_OUT
    assert consumers.state_of(workload(fingerprint=fp, available_replicas=1), fp)[0] == ConsumerState.ROLLING_OUT
    assert consumers.state_of(workload(fingerprint=fp, total_replicas=3), fp)[0] == ConsumerState.ROLLING_OUT
    stuck = consumers.state_of(workload(fingerprint=fp, deadline_exceeded="timed out"), fp)
    assert stuck == (ConsumerState.FAILED, "ProgressDeadlineExceeded", "timed out")
    assert consumers.state_of(workload(fingerprint=fp), fp)[0] == ConsumerState.CURRENT


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"fingerprint": "sha256:000000000000"},
            (ConsumerState.PENDING, ConsumerReason.TOKEN_CHANGED, "waiting to roll onto the current token"),
        ),
        (
            {"observed_generation": 1, "deadline_exceeded": "timed out"},
            (
                ConsumerState.ROLLING_OUT,
                ConsumerReason.ROLLING_OUT,
                "the controller has not seen the new pod template yet",
            ),
        ),
        (
            {"updated_replicas": 1, "available_replicas": 1},
            (ConsumerState.ROLLING_OUT, ConsumerReason.ROLLING_OUT, "1/2 updated, 1 available"),
        ),
        ({}, (ConsumerState.CURRENT, None, None)),
    ],
    ids=[
        "a workload on another token waits to roll",
        "a pod template its controller has not seen yet is rolling, whatever its old deadline says",
        "a partial rollout says how many replicas are updated and available",
        "a rolled and available workload is current, with no reason or message",
    ],
)
def test_the_state_of_a_consumer_comes_with_a_reason_and_a_message(
    changes: dict[str, Any], expected: tuple[ConsumerState, ConsumerReason | None, str | None]
) -> None:
    fp = fingerprint_of(NEW)
    assert consumers.state_of(workload(**{"fingerprint": fp, **changes}), fp) == expected


def test_redundancy_warnings_start_at_five_ha_clients_and_at_differing_client_urls() -> None:
    four = (workload("a", replicas=2), workload("b", replicas=2))
    assert consumers.redundancy_warnings(four) == []
    five = (workload("a", replicas=2), workload("b", replicas=3))
    ((reason, message),) = consumers.redundancy_warnings(five)
    assert reason == "HAClientLimitExceeded" and "5 broker clients" in message
    not_ha = (workload("a", replicas=3, ha_mode=False), workload("b", replicas=3, ha_mode=False))
    assert consumers.redundancy_warnings(not_ha) == []
    urls = (workload("a", client_urls=frozenset({"http://a"})), workload("b", client_urls=frozenset({"http://b"})))
    assert [reason for reason, _ in consumers.redundancy_warnings(urls)] == ["ClientURLMismatch"]


def test_both_redundancy_warnings_come_together_and_list_the_urls_in_order() -> None:
    both = (
        workload("a", replicas=3, client_urls=frozenset({"http://b:8000"})),
        workload("b", replicas=3, client_urls=frozenset({"http://a:8000"})),
    )
    warnings = consumers.redundancy_warnings(iter(both))
    assert [reason for reason, _ in warnings] == ["HAClientLimitExceeded", "ClientURLMismatch"]
    assert "(http://a:8000, http://b:8000)" in warnings[1][1]


def test_consumers_sharing_one_client_url_raise_no_warning() -> None:
    same = (workload("a", client_urls=frozenset({"http://a"})), workload("b", client_urls=frozenset({"http://a"})))
    assert consumers.redundancy_warnings(same) == []


def test_only_ha_mode_replicas_count_as_ha_clients() -> None:
    assert consumers.ha_clients((workload("a", replicas=3), workload("b", replicas=2, ha_mode=False))) == 3


OTHER_READER = deployment("other", pod_spec={"containers": [{"name": "c", "env": [secret_env("unrelated")]}]})
TEAM_MEMBER = deployment("alpha", labels={"team": "platform"}, pod_spec={"containers": [{"name": "c"}]})
OWN_BRIDGE = deployment(
    "broker-snykbroker-bridge", labels={BRIDGE_OF_LABEL: "broker", BROKER_TOKEN_LABEL: "github", "team": "platform"}
)
OTHER_BRIDGE = deployment("x-snykbroker-bridge", labels={BRIDGE_OF_LABEL: "x", BROKER_TOKEN_LABEL: "gitlab"})
NAMESPACE = [
    deployment("zeta"),
    deployment("cache", kind="StatefulSet"),
    deployment("broker"),
    OTHER_READER,
    TEAM_MEMBER,
    OWN_BRIDGE,
    OTHER_BRIDGE,
    deployment("mislabelled", labels={BROKER_TOKEN_LABEL: "github"}, pod_spec={"containers": []}),
]


@pytest.mark.parametrize(
    ("secret_name", "selector", "chosen"),
    [
        (SECRET_NAME, None, [("Deployment", "broker"), ("Deployment", "zeta"), ("StatefulSet", "cache")]),
        ("unrelated", None, [("Deployment", "other")]),
        ("nobody-reads-this", None, []),
        (SECRET_NAME, LabelSelector(match_labels={"team": "platform"}), [("Deployment", "alpha")]),
        (
            SECRET_NAME,
            LabelSelector(),
            [
                ("Deployment", "alpha"),
                ("Deployment", "broker"),
                ("Deployment", "mislabelled"),
                ("Deployment", "other"),
                ("Deployment", "zeta"),
                ("StatefulSet", "cache"),
            ],
        ),
    ],
    ids=[
        "without a selector the workloads reading the Secret are chosen, sorted by kind then name, bridges never",
        "without a selector another Secret's readers are that Secret's consumers",
        "a Secret nobody reads has no consumers",
        "a selector replaces discovery: it picks a workload that does not read the Secret and drops those that do",
        "an empty selector picks every workload but the bridges",
    ],
)
def test_select_consumers(secret_name: str, selector: LabelSelector | None, chosen: list[tuple[str, str]]) -> None:
    found = consumers.select_consumers(NAMESPACE, secret_name=secret_name, selector=selector)
    assert [(w.kind, w.name) for w in found] == chosen


@pytest.mark.parametrize(
    ("broker_token_name", "names"),
    [
        ("github", ["broker-snykbroker-bridge"]),
        ("gitlab", ["x-snykbroker-bridge"]),
        ("bitbucket", []),
    ],
    ids=[
        "a BrokerToken's bridges are those labelled for it, not a workload that only carries its label",
        "another BrokerToken's bridges are its own",
        "a BrokerToken with no rotation running has no bridges",
    ],
)
def test_bridges_of(broker_token_name: str, names: list[str]) -> None:
    found = consumers.bridges_of(NAMESPACE, broker_token_name=broker_token_name)
    assert [w.name for w in found] == names


def containers_env(*env: dict[str, Any]) -> dict[str, Any]:
    return {"containers": [{"name": "broker", "env": list(env)}]}


BARE = Workload(
    kind="Deployment",
    name="broker",
    generation=2,
    observed_generation=0,
    replicas=1,
    updated_replicas=0,
    available_replicas=0,
    total_replicas=0,
    fingerprint=None,
    deadline_exceeded=None,
    ha_mode=False,
    client_urls=frozenset(),
)
DEADLINE = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}


@pytest.mark.parametrize(
    ("body", "changes"),
    [
        (deployment(), {}),
        ({"metadata": {"name": "broker"}}, {"generation": 0}),
        (deployment(kind="StatefulSet", replicas=3), {"kind": "StatefulSet", "replicas": 3}),
        (
            deployment(status={"observedGeneration": 2, "updatedReplicas": 1, "readyReplicas": 1, "replicas": 2}),
            {"observed_generation": 2, "updated_replicas": 1, "available_replicas": 1, "total_replicas": 2},
        ),
        (deployment(status={"availableReplicas": 1, "readyReplicas": 2}), {"available_replicas": 1}),
        (deployment(fingerprint="sha256:0123456789ab"), {"fingerprint": "sha256:0123456789ab"}),
        (
            deployment(status={"conditions": [{**DEADLINE, "message": "ReplicaSet broker-1 has timed out"}]}),
            {"deadline_exceeded": "ReplicaSet broker-1 has timed out"},
        ),
        (deployment(status={"conditions": [DEADLINE]}), {"deadline_exceeded": "ProgressDeadlineExceeded"}),
        (
            deployment(
                status={
                    "conditions": [
                        {"type": "Progressing", "reason": "NewReplicaSetAvailable", "message": "fine"},
                        {"type": "Available", "reason": "ProgressDeadlineExceeded", "message": "not Progressing"},
                    ]
                }
            ),
            {},
        ),
        (deployment(pod_spec=containers_env({"name": "BROKER_HA_MODE_ENABLED", "value": "True"})), {"ha_mode": True}),
        (deployment(pod_spec=containers_env({"name": "BROKER_HA_MODE_ENABLED", "value": "yes"})), {"ha_mode": True}),
        (deployment(pod_spec=containers_env({"name": "BROKER_HA_MODE_ENABLED", "value": "false"})), {}),
        (
            deployment(
                pod_spec=containers_env(
                    {"name": "BROKER_HA_MODE_ENABLED", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "ha"}}}
                )
            ),
            {},
        ),
        (
            deployment(pod_spec=containers_env({"name": "BROKER_CLIENT_URL", "value": "http://broker:8000"})),
            {"client_urls": frozenset({"http://broker:8000"})},
        ),
        (deployment(pod_spec=containers_env({"name": "BROKER_CLIENT_URL", "value": ""})), {}),
    ],
    ids=[
        "a workload with no status yet has seen nothing and runs nothing, one replica by default",
        "a workload without kind or generation is a Deployment at generation 0",
        "a StatefulSet keeps its kind and replica count",
        "ready replicas count as available when the workload reports no available replicas",
        "available replicas win over ready replicas when both are reported",
        "the fingerprint is read from the pod template's annotation",
        "a rollout past its progress deadline gives the condition's message",
        "a deadline without a message is reported by its reason",
        "conditions other than Progressing past its deadline are no deadline",
        "HA mode is on for true in any case",
        "HA mode is on for yes",
        "HA mode is off for false",
        "an HA mode value read from elsewhere is not known, so HA mode is off",
        "the client URL is read from the containers' env",
        "an empty client URL is no client URL",
    ],
)
def test_a_workload_is_read_from_its_json_form(body: dict[str, Any], changes: dict[str, Any]) -> None:
    view = consumers.workload_view(body)
    assert view == dataclasses.replace(BARE, **changes)
    assert view.source is body
