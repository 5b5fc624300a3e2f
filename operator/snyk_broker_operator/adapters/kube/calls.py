"""Every Kubernetes client call goes through `call` or `call_json`: the client is synchronous, so it runs in a worker
thread, and what it raises comes out as the adapter's own error tree (:mod:`.errors`)."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, TypeVar

from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as TransportError

from snyk_broker_operator.adapters.kube.errors import translate

T = TypeVar("T")


async def call(function: Callable[..., T], *args: Any, executor: Executor | None = None, **kwargs: Any) -> T:
    """Run a blocking client call in a thread (of `executor`, else the event loop's default pool); ApiException and
    transport errors become a `KubeError`."""
    bound = functools.partial(contextvars.copy_context().run, function, *args, **kwargs)
    try:
        return await asyncio.get_running_loop().run_in_executor(executor, bound)
    except (ApiException, TransportError, ConnectionError) as error:
        raise translate(error) from None


async def call_json(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`call`, answered with the response's JSON as plain dicts and lists (None for an empty body).

    The client's own answer is its generated model classes, which the adapters would only turn back into dicts:
    building them costs more CPU than the request itself, and at a thousand objects that is most of a pass."""

    def raw() -> Any:
        response = function(*args, _preload_content=False, **kwargs)
        data = response.data  # reads the whole body, which also returns the connection to the pool
        return json.loads(data) if data else None

    return await call(raw)
