"""`snyk-broker-operator rotate NAME` and `kubectl snyk-broker rotate NAME`: ask for one rotation (the
rotate-requested-at annotation) and, with --wait, follow it until the new token is in place."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys
import time
from datetime import UTC, datetime
from typing import Any

import pydantic

from snyk_broker_operator.adapters.kube import connect
from snyk_broker_operator.adapters.kube.customobjects import CustomObjects
from snyk_broker_operator.models import BROKER_TOKEN_PLURAL, ROTATE_REQUESTED_AT_ANNOTATION, BrokerTokenStatus
from snyk_broker_operator.models.enums import ConditionStatus, ConditionType

PLURAL = BROKER_TOKEN_PLURAL
POLL_SECONDS = 1.0


@dataclasses.dataclass(frozen=True)
class RotateOptions:
    name: str
    namespace: str
    wait: bool
    timeout: float
    kubeconfig: str | None = None
    context: str | None = None


def add_arguments(parser: argparse.ArgumentParser, *, namespace_help: str) -> None:
    """The rotate command's arguments, shared by both command lines (--namespace defaults to None: the caller's)."""
    parser.add_argument("name", help="the BrokerToken")
    parser.add_argument("-n", "--namespace", default=None, help=namespace_help)
    parser.add_argument("--wait", action="store_true", help="wait until the new token is in place")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait (default: %(default)s)")


def options_from(args: argparse.Namespace, *, namespace: str, kubeconfig: str | None) -> RotateOptions:
    return RotateOptions(
        name=args.name,
        namespace=namespace,
        wait=args.wait,
        timeout=args.timeout,
        kubeconfig=kubeconfig,
        context=getattr(args, "context", None),
    )


def say(line: str) -> None:
    # This is a command's output for a person or a script to read, not a log line.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _status(body: dict[str, Any]) -> BrokerTokenStatus | None:
    try:
        return BrokerTokenStatus.model_validate(body.get("status") or {})
    except pydantic.ValidationError:
        return None


def _done(body: dict[str, Any], request: str) -> bool:
    """The rotation asked for by `request` is over: handled, none in progress, and the BrokerToken Ready."""
    status = _status(body)
    ready = status.condition(ConditionType.READY) if status else None
    return (
        status is not None
        and status.last_rotate_request == request
        and status.rotation is None
        and ready is not None
        and ready.status == ConditionStatus.TRUE
    )


async def rotate(options: RotateOptions) -> int:
    api = connect.user_api_client(options.kubeconfig, context=options.context)
    objects = CustomObjects(api)
    try:
        body = await objects.read(plural=PLURAL, name=options.name, namespace=options.namespace)
        if body is None:
            sys.stderr.write(f"BrokerToken {options.namespace}/{options.name} not found\n")
            return 1
        current = _status(body)
        before = current.token_fingerprint if current else None
        request = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        await objects.patch_metadata(
            plural=PLURAL,
            name=options.name,
            namespace=options.namespace,
            annotations={ROTATE_REQUESTED_AT_ANNOTATION: request},
        )
        say(f"rotation requested for {options.namespace}/{options.name} ({ROTATE_REQUESTED_AT_ANNOTATION}={request})")
        say(f"fingerprint before: {before}")
        if not options.wait:
            return 0
        deadline = time.monotonic() + options.timeout
        while time.monotonic() < deadline:
            body = await objects.read(plural=PLURAL, name=options.name, namespace=options.namespace)
            status = _status(body) if body is not None else None
            if body is not None and status is not None and _done(body, request):
                say(f"fingerprint after:  {status.token_fingerprint} (revision {status.revision})")
                return 0
            await asyncio.sleep(POLL_SECONDS)
        sys.stderr.write(f"timed out after {options.timeout:.0f}s waiting for the rotation to complete\n")
        return 1
    finally:
        connect.close(api)
