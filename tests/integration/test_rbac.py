"""The operator's RBAC is least privilege, proven on the cluster: what the install's ClusterRole does not grant is
refused to the operator's ServiceAccount, and every verb it or the Role on Leases (leader election) grants was used
by the operator during the tier (read from the API server's audit log of that ServiceAccount's requests)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support import identity
from support.cluster import Cluster

Grant = tuple[str, str, str]  # (API group, resource[/subresource], verb)


def granted(rules: list[dict[str, Any]]) -> set[Grant]:
    """Every (group, resource, verb) the rules allow."""
    return {
        (str(group), str(resource), str(verb))
        for rule in rules
        for group in rule.get("apiGroups") or [""]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def audited(log: Path, *, offset: int, username: str) -> Iterator[tuple[Grant, str]]:
    """(what was asked, the authorizer's decision) for every request the operator made as `username` after `offset`
    bytes; kubectl's requests under the same token (the refusal test's) are not the operator's."""
    with log.open("rb") as file:
        file.seek(offset)
        for line in file:
            event = json.loads(line)
            if event.get("user", {}).get("username") != username or "objectRef" not in event:
                continue
            if str(event.get("userAgent", "")).startswith("kubectl/"):
                continue
            ref = event["objectRef"]
            resource = ref.get("resource", "") + (f"/{ref['subresource']}" if ref.get("subresource") else "")
            decision = (event.get("annotations") or {}).get("authorization.k8s.io/decision", "")
            code = (event.get("responseStatus") or {}).get("code")
            if code == 403:
                # A server-side apply of an object that does not exist is authorized as a patch first and as a
                # create only inside the handler, whose refusal carries no decision annotation.
                decision = "forbid"
            yield (ref.get("apiGroup", ""), resource, event["verb"]), decision
            if event["verb"] == "patch" and code == 201:
                # ... and when it does create the object, it used the create verb too.
                yield (ref.get("apiGroup", ""), resource, "create"), decision


def test_what_the_role_does_not_grant_is_refused(
    kube_cluster: Cluster, operator_kubeconfig: Path, namespace: str
) -> None:
    as_operator = Cluster(operator_kubeconfig, kube_cluster.kubectl, started_here=False, local=kube_cluster.local)
    refused = [
        ("create", "configmap", "probe", "--from-literal=a=b", "-n", namespace),
        ("delete", "brokertokens.snykbroker.dev", "--all", "-n", namespace),
        ("create", "namespace", "snyk-broker-operator-should-not-exist"),
        ("delete", "customresourcedefinition", "brokertokens.snykbroker.dev"),
        ("create", "clusterrolebinding", "escalate", "--clusterrole=cluster-admin", "--user=x"),
    ]
    for args in refused:
        output = as_operator.run_kubectl(*args, check=False)
        result = as_operator.run_kubectl("auth", "can-i", args[0], args[1], "-n", namespace, check=False).strip()
        assert result == "no", f"the operator may {' '.join(args[:2])} ({output})"


@pytest.mark.runs_last
def test_every_verb_the_role_grants_was_used_and_none_was_refused(
    kube_cluster: Cluster, operator_kubeconfig: Path, audit_offset: int, whole_tier: bool
) -> None:
    log = kube_cluster.audit_log
    if log is None or not log.exists():
        pytest.skip("only the local control plane (hack/local-cluster) keeps an audit log")
    if not whole_tier:
        pytest.skip("needs the whole integration tier: a subset does not use every verb")
    requests = list(audited(log, offset=audit_offset, username=identity.USERNAME))
    used = {grant for grant, _ in requests}
    forbidden = sorted({grant for grant, decision in requests if decision == "forbid"})
    assert not forbidden, f"the operator was refused: {forbidden}"
    unused = sorted(granted(identity.operator_rules(kube_cluster)) - used)
    assert not unused, f"the install grants what no test made the operator use: {unused}"
