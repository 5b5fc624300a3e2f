"""A container's environment resolved the way the kubelet resolves it: envFrom, then env, with $(VAR) references.

Supported, as broker-client pods use them: `envFrom` (secretRef, configMapRef, prefix, optional), `env` with `value`,
`valueFrom.secretKeyRef`, `valueFrom.configMapKeyRef` (optional), and `valueFrom.fieldRef` (metadata.name,
metadata.namespace, metadata.uid, spec.nodeName, status.podIP, status.hostIP). Later entries win; `$(NAME)` in a
value expands to an earlier variable, `$$` escapes, an unknown reference stays as written (kubelet rules).
Resource field references, service links and downward-API volumes are out of scope.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

# (kind "Secret" | "ConfigMap", name) -> its data as text, or None when it does not exist.
Lookup = Callable[[str, str], Mapping[str, str] | None]

_REFERENCE = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


class ConfigError(Exception):
    """What the kubelet reports as CreateContainerConfigError: a referenced Secret, ConfigMap or key is missing."""


def secret_data(secret: Any) -> dict[str, str]:
    """A V1Secret's data, decoded."""
    return {key: base64.b64decode(value).decode() for key, value in (secret.data or {}).items()}


def resolve(pod: dict[str, Any], container: dict[str, Any], lookup: Lookup, *, pod_ip: str) -> dict[str, str]:
    """The environment of `container` (a pod spec's container, as the API serves it: camelCase) in `pod`."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        env.update(_from_source(source, lookup))
    for variable in container.get("env") or []:
        value = _value(pod, variable, lookup, pod_ip=pod_ip, env=env)
        if value is not None:
            env[variable["name"]] = value
    return env


def _from_source(source: dict[str, Any], lookup: Lookup) -> dict[str, str]:
    kind, ref = ("Secret", source["secretRef"]) if source.get("secretRef") else ("ConfigMap", source["configMapRef"])
    data = lookup(kind, ref["name"])
    if data is None:
        if ref.get("optional"):
            return {}
        raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
    prefix = source.get("prefix") or ""
    return {prefix + key: value for key, value in data.items()}


def _value(
    pod: dict[str, Any], variable: dict[str, Any], lookup: Lookup, *, pod_ip: str, env: Mapping[str, str]
) -> str | None:
    if "valueFrom" not in variable or variable["valueFrom"] is None:
        return expand(variable.get("value") or "", env)
    source = variable["valueFrom"]
    if source.get("fieldRef"):
        return _field(pod, source["fieldRef"]["fieldPath"], pod_ip=pod_ip)
    kind, ref = ("Secret", source["secretKeyRef"]) if source.get("secretKeyRef") else ("ConfigMap", None)
    if ref is None:
        ref = source.get("configMapKeyRef")
    if ref is None:
        raise ConfigError(f"env {variable['name']}: only secretKeyRef, configMapKeyRef and fieldRef are supported")
    data = lookup(kind, ref["name"])
    if data is None or ref["key"] not in data:
        if ref.get("optional"):
            return None
        missing = f'{kind.lower()} "{ref["name"]}"' if data is None else f"key {ref['key']} in {kind.lower()}"
        raise ConfigError(f"couldn't find {missing} for env {variable['name']}")
    return data[ref["key"]]


def _field(pod: dict[str, Any], path: str, *, pod_ip: str) -> str:
    fields = {
        "metadata.name": pod["metadata"]["name"],
        "metadata.namespace": pod["metadata"]["namespace"],
        "metadata.uid": pod["metadata"]["uid"],
        "spec.nodeName": pod["spec"].get("nodeName") or "",
        "status.podIP": pod_ip,
        "status.hostIP": pod_ip,
    }
    if path not in fields:
        raise ConfigError(f"fieldRef {path} is not supported by the process node")
    return str(fields[path])


def expand(value: str, env: Mapping[str, str]) -> str:
    """$(NAME) -> env[NAME] when defined (else left as it is); $$ -> $."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _REFERENCE.sub(replace, value)
