"""The Kubernetes API's error, under the name the rest of the operator uses (only this adapter imports the client)."""

from __future__ import annotations

from kubernetes.client.exceptions import ApiException as KubeApiError

__all__ = ["KubeApiError"]
