"""Builds the one Kubernetes API client the operator uses: from KUBECONFIG, or in-cluster when run in a Pod."""

from __future__ import annotations

import os
from typing import cast

from kubernetes import client, config

ApiClient = client.ApiClient


def api_client(kubeconfig: str | None = None) -> client.ApiClient:
    path = kubeconfig or os.environ.get("KUBECONFIG")
    if path:
        return cast(client.ApiClient, config.new_client_from_config(config_file=path))
    config.load_incluster_config()
    return client.ApiClient()


def close(api: client.ApiClient) -> None:
    api.close()
