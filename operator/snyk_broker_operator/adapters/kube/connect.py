"""Builds the one Kubernetes API client the operator uses: from KUBECONFIG, or in-cluster when run in a Pod.

The kubectl plugin builds its client as kubectl does (:func:`user_api_client`): --kubeconfig, else $KUBECONFIG,
else ~/.kube/config, with an optional context, and the context's namespace as the default one.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kubernetes import client, config

ApiClient = client.ApiClient

DEFAULT_KUBECONFIG = Path("~/.kube/config")


def api_client(
    kubeconfig: str | None = None, *, context: str | None = None, connections: int | None = None
) -> client.ApiClient:
    """A client from the kubeconfig (or in-cluster); `connections` keeps that many connections open for reuse
    (the client's default, five per core, is fewer than the operator's worker threads: each thread over it opened
    a new TLS connection per request)."""
    configuration = client.Configuration()
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        config.load_kube_config(config_file=path, context=context, client_configuration=configuration)
    else:
        config.load_incluster_config(client_configuration=configuration)
    return client.ApiClient(configuration=configuration)


def user_kubeconfig(kubeconfig: str | None = None) -> str | None:
    """The kubeconfig a user's command reads, as kubectl finds it; None when there is none (then in-cluster)."""
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return path
    default = DEFAULT_KUBECONFIG.expanduser()
    return str(default) if default.exists() else None


def user_api_client(kubeconfig: str | None = None, *, context: str | None = None) -> client.ApiClient:
    """A client with the user's credentials (kubectl's search order); raises ConfigError when there are none."""
    try:
        return api_client(user_kubeconfig(kubeconfig), context=context)
    except (config.ConfigException, OSError, ValueError) as error:
        raise ConfigError(str(error)) from None


def context_namespace(kubeconfig: str | None = None, *, context: str | None = None) -> str | None:
    """The namespace the kubeconfig's (current or named) context sets, if any."""
    path = user_kubeconfig(kubeconfig)
    if path is None:
        return None
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, ValueError):
        return None
    chosen: dict[str, Any] | None = current
    if context is not None:
        chosen = next((c for c in contexts or [] if c.get("name") == context), None)
    namespace = ((chosen or {}).get("context") or {}).get("namespace")
    return str(namespace) if namespace else None


class ConfigError(Exception):
    """No usable kubeconfig or in-cluster credentials: `str()` says why."""


def close(api: client.ApiClient) -> None:
    api.close()
