"""What Flux (kstatus) and Argo CD (our health.lua, restricted libraries) say of live objects at every stage of their
lives, with the real operator and simulator; the captures are the committed Argo CD testdata.

Each stage is caught on a real object (a recorder keeps every version the API server publishes) and checked with
both tools against what the stage must show: InProgress/Progressing while the operator works, Current/Healthy once
Ready, Failed/Degraded whenever a human must act, Terminating on delete. `SBO_UPDATE_TESTDATA=1` writes the captures
(normalized) as deploy/argocd/resource_customizations/snykbroker.dev/*/testdata; without it each live health is
compared with the committed health_test.yaml entry of its stage.
"""

from __future__ import annotations

import datetime
import re
import secrets
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest

from support import gitops
from support import snyk as world
from support.env import GROUP, VERSION, Env, broker_token
from support.gitops import CUSTOMIZATIONS, Captures, Recorder, Source, Stage, is_true, named, reason
from support.rotation import wait_ready_and_current, wait_rotation_complete
from support.waiting import wait_for
from support.workloads import broker_client, create_deployment

BT, SC, CSC = "BrokerToken", "SnykConnection", "ClusterSnykConnection"
HOLD_FINALIZER = "test.snykbroker.dev/hold"
ROTATE = CUSTOMIZATIONS / BT / "actions"


def stable_names(env: Env) -> dict[str, str]:
    """What the committed testdata show instead of this run's namespace and simulator address."""
    simulator = env.simulator.base_url.removesuffix("/v1")
    return {env.namespace: gitops.TESTDATA_NAMESPACE, simulator: gitops.TESTDATA_SIMULATOR}


def stage(kind: str, name: str, kstatus: str, health: str) -> Stage:
    return Stage(kind=kind, name=name, kstatus=kstatus, health=health)


@pytest.fixture
def recorder(env: Env) -> Iterator[Recorder]:
    sources = [Source("brokertokens", env.namespace), Source("snykconnections", env.namespace)]
    with Recorder(env.cluster.kubeconfig, sources) as watching:
        yield watching
    assert gitops.assert_not_stalled_and_reconciling(watching.versions()) > 0


def test_a_broker_token_reads_the_same_in_flux_and_argo_cd_through_its_whole_life(env: Env, recorder: Recorder) -> None:
    captures = Captures(stable_names(env))
    # The first Snyk call is slow, so the first status (written before it) is seen while the token is obtained.
    env.sim.fault(endpoint="get_integration_by_type", latencySeconds=1.5, count=1)
    create_deployment(env, broker_client("github-broker", secret="github-broker-token", replicas=1))
    # InPlace: the rotation stage is the same Ready=True + Reconciling=True status either way, and InPlace needs no
    # bridge Deployments, which keeps the stage short.
    spec = {"secret": {"name": "github-broker-token"}, "rotation": {"strategy": "InPlace"}}
    created = env.create("brokertokens", broker_token("github", **spec))
    # The API server's answer to the create: no status yet. kstatus calls that Current (its rule for a resource with
    # no conditions); Argo CD waits. The operator's first status, next, is what closes that gap.
    captures.check(stage(BT, "created-no-status", "Current", "Progressing"), created)

    def reconciling_for(why: str) -> Any:
        return named("github", lambda o: is_true(o, "Reconciling") and reason(o) == why)

    obtaining = recorder.first(reconciling_for("Progressing"), timeout=15, what="the first status")
    captures.check(stage(BT, "obtaining-token", "InProgress", "Progressing"), obtaining)
    assert not (obtaining.get("status") or {}).get("tokenFingerprint"), "caught after the token was obtained"
    rolling = recorder.first(reconciling_for("RollingOut"), timeout=20, what="consumers rolling out")
    captures.check(stage(BT, "rolling-out", "InProgress", "Progressing"), rolling)

    wait_ready_and_current(env, "github", consumers={"github-broker"}, timeout=45)
    # Through kubectl as a user would, YAML and all: the same object kstatus-check reads in CI.
    as_yaml = env.cluster.run_kubectl("get", "brokertoken", "github", "-n", env.namespace, "-o", "yaml")
    assert gitops.kstatus_lines(as_yaml) == [
        {"kind": BT, "name": "github", "status": "Current", "message": "Resource is Ready"}
    ]
    ready = env.broker_token("github")
    captures.check(stage(BT, "ready", "Current", "Healthy"), ready)
    assert gitops.argo("discovery", ROTATE / "discovery.lua", ready) == [
        {
            "name": "rotate",
            "disabled": False,
            "iconClass": "fa fa-fw fa-rotate",
            "displayName": "Rotate the broker token",
        }
    ]

    rotating, rotated = rotate_with_the_argo_cd_action(env, recorder, ready)
    captures.check(stage(BT, "rotating", "InProgress", "Progressing"), rotating)
    assert [a["disabled"] for a in gitops.argo("discovery", ROTATE / "discovery.lua", rotating)] == [True]

    # observedGeneration lagging is caught live: with the operator stopped, nobody observes the new spec.
    env.operator.stop()
    try:
        body = {"spec": {"secret": {"name": "github-broker-token", "labels": {"team": "platform"}}}}
        env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", "github", body)
        lagging = env.broker_token("github")
        assert lagging["metadata"]["generation"] == lagging["status"]["observedGeneration"] + 1
        captures.check(stage(BT, "generation-not-observed", "InProgress", "Progressing"), lagging)
    finally:
        env.operator.start()
    wait_for(
        lambda: (
            is_true(bt := env.broker_token("github"), "Ready")
            and bt["status"]["observedGeneration"] == bt["metadata"]["generation"]
        ),
        timeout=30,
        what="the new generation observed and Ready",
    )

    terminating = delete_held(env, recorder, "github")
    captures.check(stage(BT, "terminating", "Terminating", "Progressing"), terminating)

    if gitops.UPDATE_TESTDATA:
        gitops.write_action_capture("ready", captures.normalized(ready), rotated=True)
        gitops.write_action_capture("rotated", captures.normalized(rotated), rotated=True)
        gitops.write_action_capture("rotating", captures.normalized(rotating), rotated=False)
    print_observations(captures)


def rotate_with_the_argo_cd_action(env: Env, recorder: Recorder, ready: dict[str, Any]) -> tuple[Any, Any]:
    """Run the rotate action on the live object as Argo CD does (real clock), apply its result as the merge patch
    Argo CD computes, and return the object while it rotates and once rotated."""
    acted = gitops.argo("action", ROTATE / "rotate" / "action.lua", ready)
    patch = gitops.merge_patch(ready, acted)
    value = patch["metadata"]["annotations"][gitops.ROTATE_ANNOTATION]
    assert patch == {"metadata": {"annotations": {gitops.ROTATE_ANNOTATION: value}}}, patch
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", value), value
    stamped = datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    assert abs((datetime.datetime.now(datetime.UTC) - stamped).total_seconds()) < 60, value
    env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", "github", patch)
    rotating = recorder.first(
        named("github", lambda o: bool((o.get("status") or {}).get("rotation"))), timeout=30, what="a rotation"
    )
    rotated = wait_rotation_complete(env, "github", revision=2, consumers={"github-broker"}, timeout=90)
    assert rotated["lastRotateRequest"] == value
    return rotating, env.broker_token("github")


def delete_held(env: Env, recorder: Recorder, name: str) -> dict[str, Any]:
    """Delete a BrokerToken that a finalizer of the test's own holds; its version once deletion started."""
    hold = [{"op": "add", "path": "/metadata/finalizers/-", "value": HOLD_FINALIZER}]
    env.objects.patch_namespaced_custom_object(
        GROUP, VERSION, env.namespace, "brokertokens", name, hold, _content_type="application/json-patch+json"
    )
    env.objects.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", name)
    terminating = recorder.first(
        named(name, lambda o: bool(o["metadata"].get("deletionTimestamp"))), timeout=10, what="deletion"
    )
    # The operator releases its own finalizer (deletionPolicy Retain) and leaves ours; then the test lets go.
    wait_for(
        lambda: env.broker_token(name)["metadata"].get("finalizers") == [HOLD_FINALIZER],
        timeout=20,
        what="the operator's finalizer released",
    )
    release = {"metadata": {"finalizers": None}}
    env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", name, release)
    return terminating


# A Snyk API nobody answers (a closed loopback port): the connection check is retried, never a human's problem.
UNREACHABLE = "http://127.0.0.1:1"


@pytest.fixture
def cluster_connections(env: Env) -> Iterator[dict[str, dict[str, Any]]]:
    """ClusterSnykConnections unique to this test, by stage (good key, refused key, no key Secret, Snyk unreachable),
    as the API server answered their creation; their Secrets are in the operator's namespace (the test's)."""
    run = secrets.token_hex(3)
    keys = {"ready": "snyk-api-token", "key-refused": "revoked-api-key", "key-secret-missing": "absent-api-key",
            "snyk-unreachable": "snyk-api-token"}  # fmt: skip
    created: dict[str, dict[str, Any]] = {}
    try:
        for stem, secret in keys.items():
            body = connection(env, "ClusterSnykConnection", f"gitops-{run}-{stem}", secret)
            if stem == "snyk-unreachable":
                body["spec"]["apiUrl"] = UNREACHABLE
            body["metadata"]["labels"] = {gitops.TEST_LABEL: run}
            answer = env.objects.create_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", body)
            created[stem] = cast(dict[str, Any], answer)
        yield created
    finally:
        for body in created.values():
            name = body["metadata"]["name"]
            env.objects.delete_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", name)


def connection(env: Env, kind: str, name: str, secret: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"apiUrl": env.simulator.base_url.removesuffix("/v1"), "apiTokenSecretRef": {"name": secret}},
    }


# An integration id that no org has (fixed, so the captured message is the same on every run).
MISSING_INTEGRATION = "1f000000-0000-4000-8000-0000000000f1"
# Each BrokerToken below needs a human: (testdata name, spec overrides, the Stalled reason the operator gives).
STALLS: list[tuple[str, dict[str, Any], str]] = [
    ("connection-key-refused", {"connectionRef": {"name": "revoked"}}, "AuthenticationFailed"),
    ("connection-not-found", {"connectionRef": {"name": "no-such-connection"}}, "ConnectionNotFound"),
    ("source-secret-missing", {"source": {"existingSecretRef": {"name": "no-such-secret"}}}, "SourceSecretNotFound"),
    ("invalid-given-token", {"source": {"existingSecretRef": {"name": "bad-token", "key": "token"}}}, "InvalidToken"),
    ("secret-owned-by-someone-else", {"secret": {"name": "foreign"}}, "SecretConflict"),
    ("org-not-found", {"orgId": world.ORG_UNKNOWN}, "IntegrationNotFound"),
    ("integration-not-found", {"integration": {"id": MISSING_INTEGRATION}}, "IntegrationNotFound"),
]


def settled_by(condition_type: str) -> Callable[[dict[str, Any]], bool]:
    return lambda obj: is_true(obj, condition_type)


def test_whatever_needs_a_human_is_failed_in_flux_and_degraded_in_argo_cd(
    env: Env, recorder: Recorder, cluster_connections: dict[str, dict[str, Any]]
) -> None:
    names = {stem: body["metadata"]["name"] for stem, body in cluster_connections.items()}
    renames = stable_names(env)
    renames.update({name: f"snyk-group-{stem}" for stem, name in names.items()})
    captures = Captures(renames)
    captures.check(stage(CSC, "created-no-status", "Current", "Progressing"), cluster_connections["ready"])
    revoked = "test-key-revoked-gitops-0005"
    env.extra_secrets.add(revoked)
    env.sim.add_key(revoked, group=world.GROUP)
    env.sim.revoke(revoked)
    env.create_secret("revoked-api-key", {"apiToken": revoked})
    env.create_secret("bad-token", {"token": "not-a-uuid-at-all"})
    env.create_secret("foreign", {"BROKER_TOKEN": "someone else's"})
    refused = env.create("snykconnections", connection(env, SC, "revoked", "revoked-api-key"))
    captures.check(stage(SC, "created-no-status", "Current", "Progressing"), refused)
    env.create("snykconnections", connection(env, SC, "keyless", "absent-api-key"))
    unreachable = connection(env, SC, "unreachable", "snyk-api-token")
    unreachable["spec"]["apiUrl"] = UNREACHABLE
    env.create("snykconnections", unreachable)
    for name, spec, _ in STALLS:
        env.create("brokertokens", broker_token(name, **spec))

    for name, _, why in STALLS:
        stalled = recorder.first(named(name, lambda o: is_true(o, "Stalled")), timeout=30, what=f"{name} Stalled")
        assert reason(stalled) == why, f"{name}: {stalled['status']}"
        captures.check(stage(BT, name, "Failed", "Degraded"), env.broker_token(name))
    # A whole `kubectl get -o yaml` List, as a newcomer would pipe it: every one of them Failed.
    listed = env.cluster.run_kubectl("get", "brokertokens", "-n", env.namespace, "-o", "yaml")
    assert {(line["name"], line["status"]) for line in gitops.kstatus_lines(listed)} == {
        (name, "Failed") for name, _, _ in STALLS
    }

    # (stem, the condition that settles it, kstatus, Argo CD health)
    connection_stages = [
        ("ready", "Ready", "Current", "Healthy"),
        ("key-refused", "Stalled", "Failed", "Degraded"),
        ("key-secret-missing", "Stalled", "Failed", "Degraded"),
        ("snyk-unreachable", "Reconciling", "InProgress", "Progressing"),
    ]
    namespaced = {"ready": "snyk", "key-refused": "revoked", "key-secret-missing": "keyless",
                  "snyk-unreachable": "unreachable"}  # fmt: skip
    for stem, settles, flux, argo in connection_stages:
        found = recorder.first(named(namespaced[stem], settled_by(settles)), timeout=40,
                               what=f"SnykConnection {namespaced[stem]} {settles}")  # fmt: skip
        live = cast(
            dict[str, Any],
            env.objects.get_namespaced_custom_object(
                GROUP, VERSION, env.namespace, "snykconnections", found["metadata"]["name"]
            ),
        )
        captures.check(stage(SC, stem, flux, argo), live)

        def settled(name: str = names[stem], wanted: str = settles) -> dict[str, Any] | None:
            live = cast(
                dict[str, Any], env.objects.get_cluster_custom_object(GROUP, VERSION, "clustersnykconnections", name)
            )
            return live if is_true(live, wanted) else None

        live = wait_for(settled, timeout=40, what=f"ClusterSnykConnection {names[stem]} {settles}")
        captures.check(stage(CSC, stem, flux, argo), live)

    if gitops.UPDATE_TESTDATA:
        given = captures.normalized(env.broker_token("invalid-given-token"))
        gitops.write_action_capture("given-token", given, rotated=False)
    print_observations(captures)


def print_observations(captures: Captures) -> None:
    """The (object, stage) -> (kstatus, Argo CD health) table, for the report (pytest -s, or on failure)."""
    for seen in captures.observations:
        print(f"{seen.stage.kind:22} {seen.stage.name:30} {seen.kstatus['status']:12} {seen.health['status']:12} "
              f"{seen.health['message'][:90]}")  # fmt: skip
