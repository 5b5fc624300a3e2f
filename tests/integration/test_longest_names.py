"""The longest names Kubernetes allows: a 253-character BrokerToken whose Secret has its name, and a consumer whose
name leaves its ReplicaSets just enough room, go through provisioning, a Bridge rotation and deletion.

Every name and label the operator derives from them (custody and rotation Secrets, bridge Deployments, events, the
BrokerToken and bridge-of labels) must be accepted by the API server, which refuses anything over its limits.
"""

from __future__ import annotations

import pytest

from support.env import GROUP, VERSION, Env, broker_token
from support.rotation import request_rotation, wait_ready_and_current, wait_rotation_complete
from support.waiting import wait_for
from support.workloads import apps, broker_client, create_deployment

# 63 + 1 + 63 + 1 + 63 + 1 + 61: the longest DNS subdomain, the longest name of a BrokerToken or a Secret.
LONGEST = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
# A Deployment's ReplicaSets are called <name>-<pod-template-hash>, so 242 characters is the longest that rolls.
LONGEST_CONSUMER = "w" * 242


@pytest.mark.slow
def test_the_longest_names_provision_rotate_and_delete(env: Env) -> None:
    consumer = broker_client("longest", secret=LONGEST, replicas=1)
    consumer["metadata"]["name"] = LONGEST_CONSUMER
    create_deployment(env, consumer)
    env.create("brokertokens", broker_token(LONGEST))  # spec.secret.name defaults to the BrokerToken's name
    before = wait_ready_and_current(env, LONGEST, consumers={LONGEST_CONSUMER}, timeout=60)
    assert env.token_in(LONGEST) is not None
    assert env.condition(LONGEST, "Stalled")["status"] == "False"  # type: ignore[index]

    request_rotation(env, LONGEST, "2030-01-01T00:00:00Z")
    after = wait_rotation_complete(
        env, LONGEST, revision=before["revision"] + 1, consumers={LONGEST_CONSUMER}, timeout=90
    )
    assert after["tokenFingerprint"] != before["tokenFingerprint"]
    assert {"RotationStarted", "BridgeReady", "RotationCompleted"} <= env.wait_events("RotationCompleted")
    assert [d.metadata.name for d in apps(env).list_namespaced_deployment(env.namespace).items] == [LONGEST_CONSUMER], (
        "the bridge was not cleaned up"
    )

    env.objects.delete_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", LONGEST)
    listed = lambda: env.objects.list_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens")  # noqa: E731
    wait_for(lambda: not listed()["items"], timeout=30, what="the BrokerToken to be deleted")  # type: ignore[index]
    kept = env.secret(LONGEST)
    assert kept is not None and not kept.metadata.owner_references  # deletionPolicy Retain, the default
    assert "Traceback" not in env.operator.log_text()
