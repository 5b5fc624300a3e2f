"""When the API server refuses a write the operator makes, the BrokerToken says so in words and stops retrying.

The refusal comes from the cluster itself, as in a platform team's cluster: a ValidatingAdmissionPolicy (CEL, built
into the API server) that forbids some Secret names in the test's namespace.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import yaml

from support.env import GROUP, VERSION, Env, broker_token
from support.waiting import wait_for

POLICY_MESSAGE = "Secrets named refused-* are not allowed in this namespace"


@pytest.fixture
def refusing_policy(env: Env) -> Iterator[None]:
    name = f"refuse-{env.namespace}"
    documents = [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE", "UPDATE"],
                            "resources": ["secrets"],
                        }
                    ]
                },
                "validations": [
                    {"expression": "!object.metadata.name.startsWith('refused-')", "message": POLICY_MESSAGE}
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {
                "policyName": name,
                "validationActions": ["Deny"],
                "matchResources": {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": env.namespace}}
                },
            },
        },
    ]
    manifest = yaml.safe_dump_all(documents)
    env.cluster.run_kubectl("apply", "-f", "-", stdin=manifest)

    def enforced() -> bool:
        probe = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "refused-probe"}}
        args = ("create", "--dry-run=server", "-n", env.namespace, "-f", "-")
        result = env.cluster.run_kubectl(*args, stdin=yaml.safe_dump(probe), check=False)
        return "refused-probe created" not in result

    wait_for(enforced, timeout=30, what="the admission policy to be enforced")
    try:
        yield
    finally:
        env.cluster.run_kubectl("delete", "--ignore-not-found", "-f", "-", stdin=manifest)


def test_a_secret_the_cluster_refuses_stalls_with_the_refusal_in_words_and_a_changed_field_fixes_it(
    env: Env, refusing_policy: None
) -> None:
    given = str(uuid.uuid4())
    env.extra_secrets.add(given)
    env.create_secret("given-token", {"token": given})
    source = {"existingSecretRef": {"name": "given-token", "key": "token"}}
    env.create("brokertokens", broker_token("gh", source=source, secret={"name": "refused-broker"}))

    stalled = env.wait_condition("gh", "Stalled", timeout=30)
    assert stalled["reason"] == "WriteInvalid", stalled
    message = stalled["message"]
    assert message.startswith("writing Secret 'refused-broker' was refused by the API server: "), message
    assert POLICY_MESSAGE in message  # the cluster's own words: which rule, and why
    assert "To fix it: change the BrokerToken field the refused value comes from" in message
    assert env.condition("gh", "Reconciling")["status"] == "False"  # type: ignore[index]
    assert env.condition("gh", "Ready")["status"] == "False"  # type: ignore[index]
    assert "WriteInvalid" in env.wait_events("WriteInvalid", warning=True)

    # What the message says to change: the field the refused name came from.
    patch = {"spec": {"secret": {"name": "allowed-broker"}}}
    env.objects.patch_namespaced_custom_object(GROUP, VERSION, env.namespace, "brokertokens", "gh", patch)
    env.wait_condition("gh", "Ready", timeout=30)
    assert env.token_in("allowed-broker") == given
    assert env.condition("gh", "Stalled")["status"] == "False"  # type: ignore[index]
    assert "Traceback" not in env.operator.log_text()
