"""The `snyk-broker-operator` command line: one subcommand per thing a user runs."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from snyk_broker_operator import __version__, leadership, logs, rotate, runner, simulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snyk-broker-operator", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_run(subcommands)
    _add_rotate(subcommands)
    _add_simulate(subcommands)
    return parser


def _add_run(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = subcommands.add_parser(
        "run",
        help="run the operator",
        description="Run the operator against the cluster in KUBECONFIG (or the in-cluster service account).",
    )
    scope = run.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "-n", "--namespace", action="append", dest="namespaces", metavar="NS", help="watch this namespace (repeatable)"
    )
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    run.add_argument(
        "--operator-namespace",
        default=None,
        help="where ClusterSnykConnection API-token Secrets are read (default: the operator's own namespace)",
    )
    run.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG, else in-cluster)")
    run.add_argument(
        "--liveness", default=None, metavar="URL", help="serve a liveness probe, e.g. http://0.0.0.0:8080/healthz"
    )
    run.add_argument(
        "--metrics-address",
        default=None,
        metavar="HOST:PORT",
        help="serve Prometheus metrics at http://HOST:PORT/metrics, e.g. 0.0.0.0:9090 (default: not served)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG (tokens are never logged)")
    run.add_argument(
        "--log-format",
        choices=logs.FORMATS,
        default="text",
        help="text (readable, the default) or json (one object a line, with the object's kind, namespace, name "
        "and uid, for log stacks)",
    )
    _add_leader_election(run)


def _add_leader_election(run: argparse.ArgumentParser) -> None:
    election = run.add_argument_group(
        "leader election",
        "Only the replica holding a coordination.k8s.io Lease reconciles; the others wait and take over when it "
        "expires or is released. On by default: two operators reconciling the same objects would provision twice.",
    )
    election.add_argument(
        "--leader-election",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="reconcile only while holding the Lease (default: on; --no-leader-election for a single process that "
        "needs no Lease access)",
    )
    election.add_argument(
        "--lease-name", default=leadership.DEFAULT_LEASE_NAME, help="the Lease's name (default: %(default)s)"
    )
    election.add_argument(
        "--lease-namespace",
        default=None,
        help="the Lease's namespace (default: the namespace the operator runs in, where its Role on Leases is)",
    )
    defaults = leadership.Timings()
    for flag, field, what in (
        ("--lease-duration", "lease_duration", "how long a standby waits, from the Lease's last change, to take over"),
        ("--renew-deadline", "renew_deadline", "how long the leader keeps retrying a renewal before it exits"),
        ("--retry-period", "retry_period", "how often the leader renews and a standby polls"),
    ):
        election.add_argument(
            flag, type=float, default=getattr(defaults, field), metavar="SECONDS", help=f"{what} (default: %(default)s)"
        )


def _lease_options(args: argparse.Namespace) -> runner.LeaseOptions | None:
    """The Lease to lead by, or None without leader election; ValueError when the durations are unsafe."""
    if not args.leader_election:
        return None
    timings = leadership.Timings(
        lease_duration=args.lease_duration, renew_deadline=args.renew_deadline, retry_period=args.retry_period
    )
    problems = timings.problems()
    if problems:
        raise ValueError("; ".join(problems))
    return runner.LeaseOptions(
        name=args.lease_name,
        namespace=args.lease_namespace or runner.operator_namespace_default(),
        timings=timings,
    )


def _add_rotate(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rotate_parser = subcommands.add_parser(
        "rotate",
        help="rotate a BrokerToken's token now",
        description="Request one rotation of a BrokerToken (sets the snykbroker.dev/rotate-requested-at annotation).",
    )
    rotate.add_arguments(rotate_parser, namespace_help="its namespace (default: default)")
    rotate_parser.add_argument("--kubeconfig", default=None, help="kubeconfig file (default: $KUBECONFIG)")


def _run_rotate(args: argparse.Namespace) -> int:
    options = rotate.options_from(args, namespace=args.namespace or "default", kubeconfig=args.kubeconfig)
    return asyncio.run(rotate.rotate(options))


def _run_operator(args: argparse.Namespace) -> int:
    try:
        lease = _lease_options(args)
    except ValueError as error:
        sys.stderr.write(f"snyk-broker-operator run: {error}\n")
        return 2
    logs.configure(level=logging.DEBUG if args.verbose else logging.INFO, log_format=args.log_format)
    if not args.verbose:
        # Kopf reports every watch event's handler at INFO ("Handler ... succeeded"): one line per Deployment status
        # change. The operator logs what it does itself; keep Kopf's per-object chatter for --verbose.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    options = runner.RunOptions(
        namespaces=tuple(args.namespaces or ()),
        all_namespaces=args.all_namespaces,
        operator_namespace=args.operator_namespace or runner.operator_namespace_default(),
        kubeconfig=args.kubeconfig,
        liveness_endpoint=args.liveness,
        metrics_address=args.metrics_address,
        lease=lease,
    )
    try:
        asyncio.run(runner.run(options))
    except KeyboardInterrupt:
        return 130
    return 0


def _add_simulate(subcommands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    simulate = subcommands.add_parser(
        "simulate",
        help="serve a simulated Snyk v1 API for tests and demos",
        description="Serve a simulated Snyk v1 API (broker-token endpoints) from a seed file. "
        "Prints one line, 'simulator listening on http://HOST:PORT/v1', then serves until SIGTERM/SIGINT. "
        "Its admin API (/_sim) is unauthenticated: bind only where tests can reach it.",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
    simulate.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    simulate.add_argument(
        "--seed",
        default=str(simulator.shipped_seed_path()),
        help="seed YAML file (default: the example seed shipped with the package)",
    )
    simulate.add_argument(
        "--random-seed", type=int, default=None, help="make tokens, ids and errorRate faults reproducible"
    )
    simulate.add_argument(
        "--rate-limit", type=int, default=None, help="requests per minute per API key (overrides the seed)"
    )


def _run_simulate(args: argparse.Namespace) -> int:
    if args.rate_limit is not None and args.rate_limit <= 0:
        sys.stderr.write("snyk-broker-operator simulate: --rate-limit must be positive\n")
        return 2
    try:
        simulator.run_forever(
            seed_path=args.seed,
            announce=_announce,
            host=args.host,
            port=args.port,
            random_seed=args.random_seed,
            rate_limit=args.rate_limit,
        )
    except simulator.SeedError as error:
        sys.stderr.write(f"snyk-broker-operator simulate: {error}\n")
        return 2
    except OSError as error:
        sys.stderr.write(f"snyk-broker-operator simulate: cannot listen on {args.host}:{args.port}: {error}\n")
        return 1
    return 0


def _announce(line: str) -> None:
    # Scripts read the URL from this line, so it goes to stdout and is flushed at once.
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "run":
        return _run_operator(args)
    if args.command == "rotate":
        return _run_rotate(args)
    if args.command == "simulate":
        return _run_simulate(args)
    return 0
