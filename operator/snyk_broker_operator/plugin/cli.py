"""The `kubectl snyk-broker` commands (executable `kubectl-snyk_broker`): argument parsing, --help, exit codes.

Each command reads through `reads`, builds its view with `views` or `generate`, and prints a table (default) or a
JSON/YAML document (`-o`). Exit codes: 0 ok; 1 something is not Ready, or not found; 2 usage error; 3 the cluster
or Snyk could not be reached or refused the request.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any

from snyk_broker_operator import __version__, rotate
from snyk_broker_operator.adapters.kube import connect
from snyk_broker_operator.adapters.kube.errors import KubeError
from snyk_broker_operator.adapters.snyk import Org
from snyk_broker_operator.models import ConnectionKind
from snyk_broker_operator.plugin import generate, reads, render, views

PROG = "kubectl snyk-broker"

OK = 0
NOT_READY = 1
"""Something is not Ready, or was not found (a BrokerToken, a connection, its Secret, an org at Snyk)."""
USAGE = 2
UNREACHABLE = 3
"""The cluster or Snyk could not be reached, or refused (no kubeconfig, credentials, RBAC, Snyk down)."""

DEFAULT_OPERATOR_NAMESPACE = "snyk-broker-operator"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

DESCRIPTION = """\
Look after Snyk Broker tokens managed by snyk-broker-operator: their readiness, rotations, consumers and shares;
rotate one; see the Snyk orgs and integrations a connection's API key can reach; generate a BrokerToken manifest
for a GitOps repository. Tokens and API keys are never printed, only their fingerprints (sha256: + 12 hex)."""

EPILOG = """\
exit codes:
  0  ok
  1  something is not Ready (status, describe), or was not found (a BrokerToken, a connection, its Secret, an org)
  2  usage error (unknown option, invalid value)
  3  the cluster or Snyk could not be reached, or refused the request (kubeconfig, credentials, RBAC, outage)

Kubernetes access uses your kubeconfig: --kubeconfig, else $KUBECONFIG, else ~/.kube/config; -n defaults to the
context's namespace, else "default". See docs/kubectl-plugin.md."""

BROKER_STATE_NOTE = """\
Snyk's v1 API has no documented way to read whether an integration is brokered, so this command does not claim to
know it. What it shows instead: the BrokerTokens of this cluster that manage the org or integration (as owner, or
through a share), and their Ready state as the operator reports it."""


def _out(text: str) -> None:
    # A command's output for a person or a script, not a log line.
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _err(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


# The parser


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    common.add_argument("--context", default=None, help="kubeconfig context (default: the current one)")
    return common


def _output(parser: argparse.ArgumentParser, *, default: str = "table", choices: Sequence[str] = ()) -> None:
    parser.add_argument(
        "-o",
        "--output",
        choices=choices or render.OUTPUT_FORMATS,
        default=default,
        help="table for people (default: %(default)s), json or yaml for scripts",
    )


def _namespace(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's, else default)")


def _connection(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--connection", metavar="NAME", help="a SnykConnection in the namespace (-n)")
    which.add_argument(
        "--cluster-connection",
        metavar="NAME",
        help="a ClusterSnykConnection; its Secret is read from --operator-namespace",
    )
    parser.add_argument(
        "--operator-namespace",
        default=DEFAULT_OPERATOR_NAMESPACE,
        help="where ClusterSnykConnection Secrets live (default: %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _common()

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            parents=[common],
            help=summary,
            description=description,
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    status = command(
        "status",
        "every BrokerToken at a glance",
        "Every BrokerToken with its readiness, token fingerprint, token age (status.issuedAt), next rotation\n"
        "(status.nextRotationAt, or the phase of the rotation in progress), consumers on the current token,\n"
        "shares (Shared/Conflict counts, and orgs not shared yet) and the last problem in words (the Stalled\n"
        "message, else the Ready message when not Ready). Exit 1 when any is not Ready.",
    )
    scope = status.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", default=None, help="namespace (default: the context's, else default)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")
    _output(status)

    describe = command(
        "describe",
        "one BrokerToken in detail",
        "A BrokerToken's conditions, its recent events (oldest first), the rotation in progress (phase and what it\n"
        "waits for), each consumer's rollout and each share. Exit 1 when it is not Ready or not found.",
    )
    describe.add_argument("name", help="the BrokerToken")
    _namespace(describe)
    _output(describe)

    rotate_parser = command(
        "rotate",
        "rotate a BrokerToken's token now",
        "Request one rotation (sets the annotation snykbroker.dev/rotate-requested-at to the current time) and\n"
        "print the fingerprint before; with --wait, follow it until the new token is in place and print the\n"
        "fingerprint after. Exit 1 when not found or when --timeout passes first.",
    )
    rotate.add_arguments(rotate_parser, namespace_help="its namespace (default: the context's, else default)")

    orgs = command(
        "orgs",
        "the Snyk orgs a connection's API key can see",
        "The Snyk orgs (GET /v1/orgs) the API key of a SnykConnection (or ClusterSnykConnection) can see, read\n"
        "from the connection's Secret with your kubeconfig, with the BrokerTokens of this cluster in each org.\n\n"
        + BROKER_STATE_NOTE,
    )
    _connection(orgs)
    _namespace(orgs)
    _output(orgs)

    integrations = command(
        "integrations",
        "an org's Snyk integrations, and the BrokerTokens that manage them",
        "The integrations of a Snyk org (GET /v1/org/{orgId}/integrations): type and id, and the BrokerTokens of\n"
        "this cluster that manage each one (owner, or a share into this org) with their Ready state. ORG is an\n"
        "org id, slug or name, as `orgs` lists them.\n\n" + BROKER_STATE_NOTE,
    )
    integrations.add_argument("org", metavar="ORG", help="org id, slug or name")
    _connection(integrations)
    _namespace(integrations)
    _output(integrations)

    gen = command(
        "generate",
        "print a BrokerToken manifest for a GitOps repository",
        "Print a BrokerToken (source: provision) that the CRD schema and the operator's models accept, for a\n"
        "GitOps repository. Fields left out keep their defaults in code (docs/api.md), so Argo CD and Flux see\n"
        "no drift. Reads nothing from the cluster or Snyk; exit 2 when a value is invalid.",
    )
    gen.add_argument("--org", required=True, metavar="ORG_ID", help="the Snyk org id (a lowercase UUID)")
    which = gen.add_mutually_exclusive_group(required=True)
    which.add_argument("--integration-type", metavar="TYPE", help="the integration's type, e.g. github")
    which.add_argument("--integration-id", metavar="ID", help="the integration's id in the org")
    connection = gen.add_mutually_exclusive_group(required=True)
    connection.add_argument("--connection", metavar="NAME", help="a SnykConnection in the BrokerToken's namespace")
    connection.add_argument("--cluster-connection", metavar="NAME", help="a ClusterSnykConnection")
    gen.add_argument("--name", default=None, help="the BrokerToken's name (default: the integration type)")
    gen.add_argument("-n", "--namespace", default=None, help="put metadata.namespace in the manifest")
    gen.add_argument(
        "--share-with", action="append", default=[], metavar="ORG_ID", help="clone into this org too (repeatable)"
    )
    gen.add_argument("--rotate-every", default=None, metavar="DURATION", help="rotation schedule, e.g. 2160h")
    gen.add_argument("--secret-name", default=None, help="the Secret to write (default: the BrokerToken's name)")
    _output(gen, default="yaml", choices=("yaml", "json"))
    return parser


# The commands


def _namespace_of(args: argparse.Namespace) -> str:
    return args.namespace or connect.context_namespace(args.kubeconfig, context=args.context) or "default"


async def _status(args: argparse.Namespace) -> int:
    namespace = None if args.all_namespaces else _namespace_of(args)
    async with reads.cluster(args.kubeconfig, args.context) as cluster:
        bodies = await cluster.broker_tokens(namespace)
    rows = views.summaries(bodies, datetime.now(UTC))
    if args.output != "table":
        _out(render.document({"items": [row.as_json() for row in rows]}, args.output))
    elif not rows:
        _err(f"No BrokerTokens found{' in namespace ' + namespace if namespace else ''}.")
    else:
        _out(views.status_table(rows, all_namespaces=namespace is None))
    return OK if views.all_ready(rows) else NOT_READY


async def _describe(args: argparse.Namespace) -> int:
    namespace = _namespace_of(args)
    async with reads.cluster(args.kubeconfig, args.context) as cluster:
        body = await cluster.broker_token(args.name, namespace)
        events = await cluster.events_of(body)
    now = datetime.now(UTC)
    doc = views.description(body, events, now)
    _out(render.document(doc, args.output) if args.output != "table" else views.describe_text(doc, now))
    return OK if doc["ready"] == "True" else NOT_READY


async def _rotate(args: argparse.Namespace) -> int:
    options = rotate.options_from(args, namespace=_namespace_of(args), kubeconfig=args.kubeconfig)
    try:
        return await rotate.rotate(options)
    except connect.ConfigError as error:
        raise reads.Unreachable(f"no usable kubeconfig: {error}") from None
    except KubeError as error:
        raise reads.Unreachable(f"the Kubernetes API refused or did not answer: {error}") from None


def _connection_ref(args: argparse.Namespace) -> reads.ConnectionRef:
    cluster_scoped = args.cluster_connection is not None
    return reads.ConnectionRef(
        kind=ConnectionKind.CLUSTER_SNYK_CONNECTION if cluster_scoped else ConnectionKind.SNYK_CONNECTION,
        name=args.cluster_connection if cluster_scoped else args.connection,
        namespace=_namespace_of(args),
        operator_namespace=args.operator_namespace,
    )


async def _orgs(args: argparse.Namespace) -> int:
    ref = _connection_ref(args)
    async with reads.cluster(args.kubeconfig, args.context) as cluster:
        connection = await cluster.connection(ref)
        bodies = await cluster.broker_tokens_visible(ref.namespace)
    async with reads.snyk_client(connection) as snyk:
        orgs = await snyk.list_orgs()
    docs = views.orgs_view(orgs, bodies)
    if args.output != "table":
        _out(render.document({"orgs": docs, "brokerState": views.BROKER_STATE_UNREADABLE}, args.output))
    else:
        _out(views.orgs_table(docs))
        _err(views.BROKER_STATE_UNREADABLE)
    return OK


def _find_org(orgs: Sequence[Org], wanted: str) -> Org | None:
    for field in ("id", "slug", "name"):
        matches = [org for org in orgs if getattr(org, field) == wanted]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise reads.NotFound(f"{len(matches)} orgs have the {field} {wanted!r}: give the org id")
    return None


async def _integrations(args: argparse.Namespace) -> int:
    ref = _connection_ref(args)
    async with reads.cluster(args.kubeconfig, args.context) as cluster:
        connection = await cluster.connection(ref)
        bodies = await cluster.broker_tokens_visible(ref.namespace)
    async with reads.snyk_client(connection) as snyk:
        org = _find_org(await snyk.list_orgs(), args.org)
        if org is None and not _UUID.match(args.org):
            raise reads.NotFound(f"no org with the id, slug or name {args.org!r} is visible to this API key")
        org_id = org.id if org is not None else args.org
        integrations = await snyk.list_integrations(org_id=org_id)
    docs = views.integrations_view(org_id, integrations, bodies)
    if args.output != "table":
        about = {"id": org_id, "name": org.name if org else None, "slug": org.slug if org else None}
        document = {"org": about, "integrations": docs, "brokerState": views.BROKER_STATE_UNREADABLE}
        _out(render.document(document, args.output))
    else:
        _out(views.integrations_table(docs) if docs else "No integrations.")
        _err(views.BROKER_STATE_UNREADABLE)
    return OK


def _generate(args: argparse.Namespace) -> int:
    request = generate.Request(
        org_id=args.org,
        connection=args.cluster_connection or args.connection,
        cluster_connection=args.cluster_connection is not None,
        integration_type=args.integration_type,
        integration_id=args.integration_id,
        name=args.name,
        namespace=args.namespace,
        share_with=tuple(args.share_with),
        rotate_every=args.rotate_every,
        secret_name=args.secret_name,
    )
    try:
        manifest = generate.manifest(request)
    except generate.Invalid as error:
        _err(f"{PROG} generate: {error}")
        return USAGE
    _out(render.document(manifest, args.output))
    return OK


_ASYNC_COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "status": _status,
    "describe": _describe,
    "rotate": _rotate,
    "orgs": _orgs,
    "integrations": _integrations,
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE
    # The Snyk client says when it retries (a warning); nothing it logs carries a key or a token.
    logging.basicConfig(level=logging.WARNING, format=f"{PROG}: %(message)s", stream=sys.stderr)
    if args.command == "generate":
        return _generate(args)
    try:
        return asyncio.run(_ASYNC_COMMANDS[args.command](args))
    except reads.NotFound as error:
        _err(f"{PROG} {args.command}: {error}")
        return NOT_READY
    except reads.Unreachable as error:
        _err(f"{PROG} {args.command}: {error}")
        return UNREACHABLE
    except KeyboardInterrupt:
        return 130
