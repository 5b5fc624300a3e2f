"""The process node resolves a container's environment as the kubelet does (tests/support/process_node/podenv.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from support.process_node import podenv

POD: dict[str, Any] = {
    "metadata": {"name": "client-1", "namespace": "ns", "uid": "u-1"},
    "spec": {"nodeName": "process-node-0"},
}
OBJECTS: dict[tuple[str, str], dict[str, str]] = {
    ("Secret", "broker"): {"BROKER_TOKEN": "t-1"},
    ("Secret", "scm"): {"token": "s-1", "user": "bot"},
    ("ConfigMap", "settings"): {"LOG_LEVEL": "debug", "PORT": "7000"},
}


def lookup(kind: str, name: str) -> Mapping[str, str] | None:
    return OBJECTS.get((kind, name))


def resolve(container: dict[str, Any]) -> dict[str, str]:
    return podenv.resolve(POD, container, lookup, pod_ip="127.0.0.1")


def test_env_from_comes_first_and_env_overrides_it_in_order() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "settings"}}, {"secretRef": {"name": "scm"}, "prefix": "SCM_"}],
        "env": [
            {"name": "PORT", "value": "8000"},
            {"name": "BROKER_TOKEN", "valueFrom": {"secretKeyRef": {"name": "broker", "key": "BROKER_TOKEN"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "URL", "value": "http://$(POD):$(PORT)/$(UNDEFINED)$$(PORT)"},
        ],
    }

    assert resolve(container) == {
        "LOG_LEVEL": "debug",
        "PORT": "8000",
        "SCM_token": "s-1",
        "SCM_user": "bot",
        "BROKER_TOKEN": "t-1",
        "POD": "client-1",
        "URL": "http://client-1:8000/$(UNDEFINED)$(PORT)",
    }


@pytest.mark.parametrize(
    ("variable", "problem"),
    [
        ({"name": "T", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}, 'secret "absent"'),
        ({"name": "T", "valueFrom": {"secretKeyRef": {"name": "broker", "key": "nope"}}}, "key nope in secret"),
        ({"name": "T", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels"}}}, "not supported"),
    ],
    ids=["a missing secret", "a missing key", "an unsupported field"],
)
def test_what_the_kubelet_reports_as_create_container_config_error_is_refused(
    variable: dict[str, Any], problem: str
) -> None:
    with pytest.raises(podenv.ConfigError, match=problem):
        resolve({"env": [variable]})


def test_optional_references_to_what_is_missing_are_left_out() -> None:
    container = {
        "envFrom": [{"secretRef": {"name": "absent", "optional": True}}],
        "env": [{"name": "T", "valueFrom": {"secretKeyRef": {"name": "broker", "key": "nope", "optional": True}}}],
    }

    assert resolve(container) == {}
