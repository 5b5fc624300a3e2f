"""`kubectl snyk-broker` as a command line, without a cluster: --help explains each command and the exit codes,
usage errors exit 2, `generate` prints a document, and commands that need a cluster exit 3 without one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from snyk_broker_operator.adapters import snyk
from snyk_broker_operator.adapters.snyk.calls import CallContext, SnykCall
from snyk_broker_operator.plugin import cli, reads

ORG = "0a000000-0000-4000-8000-00000000000a"
COMMANDS = ("status", "describe", "rotate", "orgs", "integrations", "generate")


def test_the_help_lists_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert all(command in out for command in COMMANDS)
    assert all(f"  {code}  " in out for code in (0, 1, 2, 3))


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_a_help_of_its_own(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"])

    out = capsys.readouterr().out
    assert exited.value.code == 0 and f"kubectl snyk-broker {command}" in out and "exit codes:" in out


@pytest.mark.parametrize("command", ["orgs", "integrations"])
def test_the_snyk_commands_say_that_broker_state_is_not_readable(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        cli.main([command, "--help"])

    assert "no documented way to read whether an integration is brokered" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["status", "-n", "a", "-A"],
        ["status", "-o", "wide"],
        ["describe"],
        ["orgs"],
        ["orgs", "--connection", "a", "--cluster-connection", "b"],
        ["generate", "--org", ORG, "--connection", "snyk"],
        ["generate", "--org", ORG, "--integration-type", "github", "--connection", "snyk", "-o", "table"],
        ["generate", "--org", "nope", "--integration-type", "github", "--connection", "snyk"],
    ],
    ids=lambda argv: " ".join(argv) or "no command",
)
def test_a_usage_error_exits_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli.main(argv)
    except SystemExit as exited:
        code = int(exited.code or 0)

    assert code == cli.USAGE
    capsys.readouterr()


@pytest.mark.parametrize("output", ["yaml", "json"])
def test_generate_prints_a_document_and_exits_0(output: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--org", ORG, "--integration-type", "gitlab", "--connection", "snyk", "-o", output]

    assert cli.main(argv) == cli.OK

    printed = capsys.readouterr().out
    document = json.loads(printed) if output == "json" else yaml.safe_load(printed)
    assert document["kind"] == "BrokerToken" and document["spec"]["integration"] == {"type": "gitlab"}


def test_a_command_that_needs_the_cluster_exits_3_without_a_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))

    assert cli.main(["status"]) == cli.UNREACHABLE
    assert cli.main(["rotate", "github"]) == cli.UNREACHABLE

    assert "kubectl snyk-broker status: no usable kubeconfig" in capsys.readouterr().err


def test_the_namespace_comes_from_the_contexts_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "here",
                "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [
                    {"name": "here", "context": {"cluster": "c", "user": "u", "namespace": "team-a"}},
                    {"name": "bare", "context": {"cluster": "c", "user": "u"}},
                ],
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    parse = cli.build_parser().parse_args

    assert cli._namespace_of(parse(["describe", "x"])) == "team-a"
    assert cli._namespace_of(parse(["describe", "x", "--context", "bare"])) == "default"
    assert cli._namespace_of(parse(["describe", "x", "-n", "team-b"])) == "team-b"
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert cli._namespace_of(parse(["describe", "x"])) == "default"


def test_a_passing_snyk_failure_asks_to_try_again_instead_of_promising_a_retry() -> None:
    context = CallContext(SnykCall.LIST_ORGS)
    unavailable = snyk.UnavailableError(context, detail="the connection could not be made")
    refused = snyk.AuthenticationError(context, status_code=401)

    assert reads._for_a_person(unavailable).endswith("the connection could not be made. Try again later.")
    assert reads._for_a_person(refused) == str(refused) and "API key was refused" in str(refused)
