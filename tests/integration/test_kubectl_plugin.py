"""`kubectl snyk-broker` as users run it: the `kubectl-snyk_broker` executable of the installed wheel, as a
subprocess with the test cluster's kubeconfig, against the operator and the Snyk simulator.

Every command is checked in its human and JSON forms with its exit code, one command goes through the real
kubectl's plugin lookup, a generated manifest passes the API server's schema and CEL rules (a server-side dry-run),
and no token or API key appears in anything the plugin printed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from support import snyk as world
from support.env import GROUP, VERSION, Env, broker_token
from support.installed import Installed
from support.rotation import provisioned, status_of
from support.waiting import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

PLUGIN = "kubectl-snyk_broker"
REVOKED_KEY = "plugin-test-key-to-revoke-0003"


@dataclasses.dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@dataclasses.dataclass
class Plugin:
    """The installed plugin, run as the user who owns the kubeconfig; every output is kept for the leak check."""

    installed: Installed
    kubeconfig: Path
    kubectl: Path
    printed: list[str] = dataclasses.field(default_factory=list)

    @property
    def executable(self) -> Path:
        return self.installed.command.parent / PLUGIN

    def environment(self, kubeconfig: Path | None = None) -> dict[str, str]:
        base = {**os.environ, "KUBECONFIG": str(kubeconfig or self.kubeconfig)}
        return self.installed.environment(base)

    def run(self, *args: str, kubeconfig: Path | None = None, stdin: str | None = None) -> Result:
        return self._run([str(self.executable), *args], kubeconfig=kubeconfig, stdin=stdin)

    def through_kubectl(self, *args: str) -> Result:
        """`kubectl snyk-broker ARGS`: kubectl finds the plugin on PATH (the install's bin directory)."""
        return self._run([str(self.kubectl), "snyk-broker", *args])

    def _run(self, argv: list[str], *, kubeconfig: Path | None = None, stdin: str | None = None) -> Result:
        done = subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=180,
            env=self.environment(kubeconfig),
            check=False,
        )
        self.printed += [done.stdout, done.stderr]
        return Result(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def plugin(env: Env, operator_install: Installed) -> Iterator[Plugin]:
    found = Plugin(operator_install, env.cluster.kubeconfig, env.cluster.kubectl)
    assert found.executable.exists(), "the wheel must install the kubectl-snyk_broker script"
    yield found
    secrets = {*env.sim.issued_tokens(), world.GROUP_KEY, world.TEAM_A_ONLY_KEY, REVOKED_KEY}
    for text in found.printed:
        for secret in secrets:
            assert secret not in text, "a token or API key appeared in the plugin's output"


def row_of(table: str, name: str) -> str:
    return next(line for line in table.splitlines() if line.split()[:1] == [name])


def without_age(item: dict[str, Any]) -> dict[str, Any]:
    """A status item without its token age, which moves on between two runs."""
    return {key: value for key, value in item.items() if key != "tokenAge"}


def wait_shares(env: Env, name: str, count: int) -> dict[str, Any]:
    def probe() -> dict[str, Any] | None:
        status = status_of(env, name)
        return status if len(status.get("sharedWith") or []) == count else None

    return wait_for(probe, timeout=30, what=f"{count} shares of {name}")


def test_status_describe_orgs_integrations_and_generate(env: Env, plugin: Plugin) -> None:
    ns = env.namespace
    shares = [{"orgId": world.ORG_TEAM_A}, {"orgId": world.ORG_WITH_GITHUB}]  # team-d already has github: Conflict
    provisioned(env, "broker", consumers={"client"}, replicas=1, shareWith=shares)
    ready = wait_shares(env, "broker", 2)
    clone = next(s["integrationId"] for s in ready["sharedWith"] if s["orgId"] == world.ORG_TEAM_A)
    fingerprint = ready["tokenFingerprint"]

    # All Ready: exit 0, one row with what the brief names.
    shown = plugin.run("status", "-n", ns)
    assert shown.code == 0, shown
    header, row = shown.out.splitlines()
    assert header.split()[:3] == ["NAME", "READY", "FINGERPRINT"]
    assert row.split()[:3] == ["broker", "True", fingerprint]
    assert "1/1 Current" in row and "1 Shared, 1 Conflict" in row and row.rstrip().endswith("-")
    print(f"\n$ kubectl snyk-broker status\n{shown.out}")  # the README's example

    # Through kubectl's own plugin lookup: the same table.
    via_kubectl = plugin.through_kubectl("status", "-n", ns)
    assert via_kubectl.code == 0 and via_kubectl.out.splitlines()[1].split()[:3] == row.split()[:3], via_kubectl

    # A stalled BrokerToken: exit 1, and its problem is the Stalled message, in words.
    env.create("brokertokens", broker_token("jira", integration={"type": "jira"}))
    stalled = env.wait_condition("jira", "Stalled")
    shown = plugin.run("status", "-n", ns)
    assert shown.code == 1, shown
    print(f"\n$ kubectl snyk-broker status\n{shown.out}")
    assert "False" in row_of(shown.out, "jira").split() and stalled["message"] in row_of(shown.out, "jira")

    as_json = plugin.run("status", "-n", ns, "-o", "json")
    assert as_json.code == 1
    items = {item["name"]: item for item in as_json.json["items"]}
    assert items["broker"]["ready"] == "True" and items["broker"]["tokenFingerprint"] == fingerprint
    assert items["broker"]["issuedAt"] == ready["issuedAt"] and items["broker"]["nextRotation"] == "on request"
    assert items["broker"]["consumers"] == {"current": 1, "total": 1}
    assert items["broker"]["shares"] == {"shared": 1, "conflict": 1, "pending": 0}
    assert items["jira"]["ready"] == "False" and items["jira"]["problem"] == stalled["message"]
    as_yaml = yaml.safe_load(plugin.run("status", "-n", ns, "-o", "yaml").out)
    assert [without_age(item) for item in as_yaml["items"]] == [without_age(item) for item in as_json.json["items"]]

    everywhere = plugin.run("status", "-A")
    assert everywhere.out.splitlines()[0].startswith("NAMESPACE")
    assert any(line.split()[:2] == [ns, "broker"] for line in everywhere.out.splitlines())

    # describe: conditions, events oldest first, consumers, shares.
    described = plugin.run("describe", "broker", "-n", ns)
    assert described.code == 0, described
    text = described.out
    print(f"\n$ kubectl snyk-broker describe broker\n{text}")  # docs/kubectl-plugin.md's example
    assert f"Fingerprint:   {fingerprint}" in text and "Rotation:      none in progress" in text
    for section in ("Conditions:", "Consumers (1/1 ready):", "Shares:", "Events:"):
        assert section in text
    assert re.search(r"^  Deployment\s+client\s+Current", text, re.MULTILINE), text
    assert re.search(rf"^  {world.ORG_TEAM_A}\s+{clone}\s+Shared", text, re.MULTILINE), text
    assert re.search(rf"^  {world.ORG_WITH_GITHUB}\s+\S+\s+Conflict", text, re.MULTILINE), text
    doc = plugin.run("describe", "broker", "-n", ns, "-o", "json").json
    reasons = [event["reason"] for event in doc["events"]]
    assert "TokenIssued" in reasons and "RolloutCompleted" in reasons
    assert reasons.index("TokenIssued") < reasons.index("RolloutCompleted")
    times = [event["time"] for event in doc["events"]]
    assert times == sorted(times)
    assert {c["type"]: c["status"] for c in doc["conditions"]}["Ready"] == "True"
    assert {s["orgId"]: s["state"] for s in doc["shares"]} == {
        world.ORG_TEAM_A: "Shared",
        world.ORG_WITH_GITHUB: "Conflict",
    }
    jira = plugin.run("describe", "jira", "-n", ns)
    assert jira.code == 1 and f"Problem:       {stalled['message']}" in jira.out
    missing = plugin.run("describe", "nope", "-n", ns)
    assert missing.code == 1 and "BrokerToken" in missing.err and "not found" in missing.err

    # orgs: what the connection's key sees (the acme group, not elsewhere), with the BrokerTokens in each.
    orgs = plugin.run("orgs", "--connection", "snyk", "-n", ns)
    assert orgs.code == 0, orgs
    assert {line.split()[0] for line in orgs.out.splitlines()[1:]} == {"platform", "team-a", "team-b", "team-d"}
    assert f"{ns}/broker" in row_of(orgs.out, "platform") and f"{ns}/jira" in row_of(orgs.out, "platform")
    assert f"{ns}/broker" in row_of(orgs.out, "team-a")
    listed = plugin.run("orgs", "--connection", "snyk", "-n", ns, "-o", "json").json
    assert {org["id"] for org in listed["orgs"]} == {
        world.ORG_PLATFORM,
        world.ORG_TEAM_A,
        world.ORG_TEAM_B,
        world.ORG_WITH_GITHUB,
    }
    assert "not readable" in listed["brokerState"]

    # integrations: by org name; type, id, and the BrokerToken that manages each (owner or share).
    integrations = plugin.run("integrations", "platform", "--connection", "snyk", "-n", ns)
    assert integrations.code == 0, integrations
    assert row_of(integrations.out, "github").split() == ["github", world.GITHUB, f"{ns}/broker", "True"]
    assert row_of(integrations.out, "gitlab").split() == ["gitlab", world.GITLAB, "-", "-"]
    assert "not readable through Snyk's v1 API" in integrations.err
    shared = plugin.run("integrations", world.ORG_TEAM_A, "--connection", "snyk", "-n", ns, "-o", "json").json
    assert shared["org"]["name"] == "team-a"
    (github,) = [i for i in shared["integrations"] if i["type"] == "github"]
    assert github["id"] == clone
    assert [(m["name"], m["role"], m["ready"]) for m in github["brokerTokens"]] == [("broker", "shared", "True")]
    nowhere = plugin.run("integrations", "no-such-org", "--connection", "snyk", "-n", ns)
    assert nowhere.code == 1 and "no org" in nowhere.err
    no_connection = plugin.run("orgs", "--connection", "absent", "-n", ns)
    assert no_connection.code == 1 and "SnykConnection 'absent' not found" in no_connection.err

    # generate: a manifest the API server accepts (schema and CEL, dry-run), and a refused value exits 2.
    generated = plugin.run(
        "generate",
        "--org",
        world.ORG_PLATFORM,
        "--integration-type",
        "gitlab",
        "--connection",
        "snyk",
        "--share-with",
        world.ORG_TEAM_B,
        "--rotate-every",
        "2160h",
        "--secret-name",
        "gitlab-broker-token",
    )
    assert generated.code == 0, generated
    manifest = yaml.safe_load(generated.out)
    assert manifest["metadata"] == {"name": "gitlab"} and manifest["spec"]["rotation"] == {"every": "2160h"}
    env.cluster.run_kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", stdin=generated.out)
    as_json_manifest = plugin.run(
        "generate", "--org", world.ORG_PLATFORM, "--integration-id", world.GITLAB, "--connection", "snyk", "-o", "json"
    )
    env.cluster.run_kubectl("apply", "--dry-run=server", "-n", ns, "-f", "-", stdin=as_json_manifest.out)
    refused = plugin.run(
        "generate", "--org", world.ORG_PLATFORM, "--integration-type", "gitlab", "--connection", "snyk",
        "--share-with", world.ORG_PLATFORM,
    )  # fmt: skip
    assert refused.code == 2 and "must not list spec.orgId" in refused.err and refused.out == ""


def test_rotate_wait_and_the_exit_codes_of_failures(env: Env, plugin: Plugin, tmp_path: Path) -> None:
    ns = env.namespace
    before = provisioned(env, "broker", consumers={"client"}, replicas=1)

    rotated = plugin.run("rotate", "broker", "-n", ns, "--wait", "--timeout", "120")
    assert rotated.code == 0, rotated
    after = status_of(env, "broker")
    assert after["revision"] == before["revision"] + 1
    assert f"fingerprint before: {before['tokenFingerprint']}" in rotated.out
    assert f"fingerprint after:  {after['tokenFingerprint']}" in rotated.out

    doc = plugin.run("describe", "broker", "-n", ns, "-o", "json").json
    reasons = [event["reason"] for event in doc["events"]]
    assert reasons.index("RotationStarted") < reasons.index("TokenSwitched") < reasons.index("RotationCompleted")
    assert doc["rotation"] is None and doc["revision"] == after["revision"]

    assert plugin.run("rotate", "absent", "-n", ns).code == 1

    # No cluster at the kubeconfig's address: exit 3.
    dead = tmp_path / "dead.kubeconfig"
    dead.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dead",
                "clusters": [{"name": "dead", "cluster": {"server": f"https://127.0.0.1:{closed_port()}"}}],
                "users": [{"name": "dead", "user": {"token": "nobody"}}],
                "contexts": [{"name": "dead", "context": {"cluster": "dead", "user": "dead", "namespace": ns}}],
            }
        )
    )
    unreachable = plugin.run("status", kubeconfig=dead)
    assert unreachable.code == 3 and "did not answer" in unreachable.err, unreachable

    # Snyk unreachable through a connection: exit 3.
    env.create(
        "snykconnections",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": "nowhere"},
            "spec": {"apiUrl": f"http://127.0.0.1:{closed_port()}", "apiTokenSecretRef": {"name": "snyk-api-token"}},
        },
    )
    no_snyk = plugin.run("orgs", "--connection", "nowhere", "-n", ns)
    assert no_snyk.code == 3 and "list_orgs" in no_snyk.err, no_snyk

    # A revoked key: Snyk refuses it, exit 3 (a key of its own, so the operator's keeps working).
    env.sim.add_key(REVOKED_KEY, group=world.GROUP)
    env.extra_secrets.add(REVOKED_KEY)
    env.create_secret("revoked-api-token", {"apiToken": REVOKED_KEY})
    env.create(
        "snykconnections",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SnykConnection",
            "metadata": {"name": "revoked"},
            "spec": {
                "apiUrl": env.simulator.base_url.removesuffix("/v1"),
                "apiTokenSecretRef": {"name": "revoked-api-token"},
            },
        },
    )
    assert plugin.run("orgs", "--connection", "revoked", "-n", ns).code == 0
    env.sim.revoke(REVOKED_KEY)
    refused = plugin.run("integrations", world.ORG_PLATFORM, "--connection", "revoked", "-n", ns)
    assert refused.code == 3 and "the API key was refused" in refused.err, refused


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
