"""Every Kubernetes client call goes through `call`: the client is synchronous, so it runs in a worker thread, and
what it raises comes out as the adapter's own error tree (:mod:`.errors`)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from snyk_broker_operator.adapters.kube.errors import translate

T = TypeVar("T")


async def call(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking client call in a thread; ApiException and transport errors become a `KubeError`."""
    try:
        return await asyncio.to_thread(function, *args, **kwargs)
    except (ApiException, TransportError, ConnectionError) as error:
        raise translate(error) from None
