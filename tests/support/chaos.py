"""The chaos suite's workload and its judge: 100 BrokerTokens of every kind, a sampler that watches them through a
fault, and the checks and figures that say whether anything was lost, repeated or left unexplained.

The Snyk world has GROUPS groups of ORGS_PER_GROUP orgs, each org with one github integration, and one API key (and
so one SnykConnection and one request budget) per group: Snyk allows one outstanding provisional token per group, so
rotations in different groups run side by side, as they would for the users of many Snyk groups.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from support import snyk as world
from support.cluster import REPO
from support.env import GROUP, VERSION, Env
from support.workloads import apps, broker_client, create_deployment

GROUPS = 22
ORGS_PER_GROUP = 5
PROVISIONED_GROUPS = 14  # groups 0..13 provision (63 BrokerTokens); the next ones give their own tokens (37)
BROKER_TOKENS = 100
CONSUMERS = 20
ROTATE_REQUESTED_AT = "snykbroker.dev/rotate-requested-at"
RESULTS = REPO / "bench" / "results" / "chaos.json"
# Error texts the sampler reads in a status while a Snyk fault lasts (from adapters/snyk/errors.py's summaries).
SNYK_UNREACHABLE = "Snyk could not be reached or failed to answer"
SNYK_RATE_LIMITED = "Snyk rate-limited the API key"
SNYK_OUTCOME_UNKNOWN = "the outcome is unknown"  # a call that hung or was cut after it was sent
# A rotation whose provision call lost its answer (engine.outcomes.provision_cut_off): Snyk holds a provisional token
# its API cannot read back, and only a person (Snyk support) can clear it.
PROVISION_CUT_OFF = "provision-token call of"


def snyk_group(group: int) -> str:
    return f"6a000000-0000-4000-8000-{group:012d}"


def org(group: int, index: int) -> str:
    return f"6b000000-0000-4000-8000-{group:06d}{index:06d}"


def integration(group: int, index: int) -> str:
    return f"6c000000-0000-4000-8000-{group:06d}{index:06d}"


def api_key(group: int) -> str:
    return f"chaos-key-group-{group:02d}-with-group-access"


def is_share_target(group: int, index: int) -> bool:
    """Org 4 of an even provisioned group receives org 0's token by a share (a clone of its integration), so it has
    no github integration of its own, and no BrokerToken."""
    return group < PROVISIONED_GROUPS and group % 2 == 0 and index == ORGS_PER_GROUP - 1


def seed() -> dict[str, Any]:
    """The chaos world; the env fixture's own connection keeps working (world.GROUP_KEY, on group 0)."""
    groups = [
        {
            "id": snyk_group(g),
            "name": f"chaos-{g}",
            "orgs": [
                {
                    "id": org(g, i),
                    "name": f"chaos-{g}-{i}",
                    "integrations": []
                    if is_share_target(g, i)
                    else [{"id": integration(g, i), "type": "github", "brokerEnabled": False}],
                }
                for i in range(ORGS_PER_GROUP)
            ],
        }
        for g in range(GROUPS)
    ]
    keys = [{"key": api_key(g), "group": snyk_group(g)} for g in range(GROUPS)]
    return {
        "rateLimitPerMinute": 2000,
        "groups": groups,
        "apiKeys": [*keys, {"key": world.GROUP_KEY, "group": groups[0]["id"]}],
    }


@dataclasses.dataclass(frozen=True)
class Member:
    """One BrokerToken of the workload."""

    name: str
    group: int
    index: int
    provisioned: bool
    shares_with: tuple[int, ...] = ()  # org indexes in the same group
    consumer: bool = False

    @property
    def org_id(self) -> str:
        return org(self.group, self.index)

    @property
    def integration_id(self) -> str:
        return integration(self.group, self.index)


def members() -> list[Member]:
    """100 BrokerTokens: 63 provisioned (7 of them sharing their token with another org), 37 given; 20 consumed,
    all by provisioned ones."""
    chosen: list[Member] = []
    for g in range(GROUPS):
        for i in range(ORGS_PER_GROUP):
            provisioned = g < PROVISIONED_GROUPS
            if is_share_target(g, i):
                continue
            shares = (ORGS_PER_GROUP - 1,) if is_share_target(g, ORGS_PER_GROUP - 1) and i == 0 else ()
            chosen.append(Member(f"bt-{g:02d}-{i}", g, i, provisioned, shares))
    chosen = chosen[:BROKER_TOKENS]
    # Consumers on provisioned tokens spread over the groups (the rotations in flight pick among them first).
    with_consumer = {m.name for m in chosen if m.provisioned and m.index in (1, 2)}
    return [dataclasses.replace(m, consumer=m.name in sorted(with_consumer)[:CONSUMERS]) for m in chosen]


# Ten rotations in flight, each in a group of its own (Snyk's one-provisional-token rule): five with a consumer,
# two sharing their token with another org, three plain.
ROTATED = ("bt-00-1", "bt-02-1", "bt-04-1", "bt-06-1", "bt-08-1", "bt-10-0", "bt-12-0", "bt-11-0", "bt-13-3", "bt-01-0")


class Workload:
    """Creates the workload in the env's namespace, and reads it back."""

    def __init__(self, env: Env, api_url: str) -> None:
        self.env = env
        self.api_url = api_url
        self.members = members()
        self.by_name = {m.name: m for m in self.members}
        self.given_tokens: dict[str, str] = {}
        self.rotations_requested: dict[str, str] = {}  # name -> the annotation's value
        # BrokerTokens whose provision answer was lost, and whose provisional token the test had cleared in Snyk.
        self.cut_off: list[str] = []

    def create(self) -> None:
        env = self.env
        for g in range(GROUPS):
            env.extra_secrets.add(api_key(g))
            env.create_secret(f"chaos-key-{g:02d}", {"apiToken": api_key(g)})
            env.create(
                "snykconnections",
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "SnykConnection",
                    "metadata": {"name": f"chaos-{g:02d}"},
                    "spec": {
                        "apiUrl": self.api_url,
                        "apiTokenSecretRef": {"name": f"chaos-key-{g:02d}"},
                        "requestBudget": {"requestsPerMinute": 1200, "maxConcurrency": 4},
                    },
                },
            )
        for member in self.members:
            if member.consumer:
                create_deployment(env, broker_client(f"{member.name}-client", secret=member.name, replicas=1))
            if not member.provisioned:
                token = self.given_tokens.setdefault(member.name, str(uuid.uuid4()))
                env.extra_secrets.add(token)
                env.create_secret(f"{member.name}-given", {"token": token})
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda m: env.create("brokertokens", self.manifest(m)), self.members))

    def manifest(self, member: Member) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "connectionRef": {"name": f"chaos-{member.group:02d}"},
            "orgId": member.org_id,
            "integration": {"id": member.integration_id},
            "source": (
                {"provision": {}}
                if member.provisioned
                else {"existingSecretRef": {"name": f"{member.name}-given", "key": "token"}}
            ),
        }
        if member.shares_with:
            spec["shareWith"] = [{"orgId": org(member.group, i)} for i in member.shares_with]
        if member.consumer:
            spec["consumers"] = {"selector": {"matchLabels": {"app": f"{member.name}-client"}}}
        return {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "BrokerToken",
            "metadata": {"name": member.name},
            "spec": spec,
        }

    def request_rotations(self, names: tuple[str, ...] = ROTATED) -> None:
        for name in names:
            value = datetime.now(UTC).isoformat()
            self.rotations_requested[name] = value
            body = {"metadata": {"annotations": {ROTATE_REQUESTED_AT: value}}}
            self.env.objects.patch_namespaced_custom_object(
                GROUP, VERSION, self.env.namespace, "brokertokens", name, body
            )

    def broker_tokens(self) -> dict[str, dict[str, Any]]:
        listed = self.env.objects.list_namespaced_custom_object(GROUP, VERSION, self.env.namespace, "brokertokens")
        return {item["metadata"]["name"]: item for item in listed["items"]}  # type: ignore[index]

    def secrets(self) -> dict[str, dict[str, str]]:
        """Every Secret of the namespace, decoded (tests only: it holds tokens)."""
        found = {}
        for secret in self.env.core.list_namespaced_secret(self.env.namespace).items:
            data = secret.data or {}
            found[str(secret.metadata.name)] = {k: base64.b64decode(v).decode() for k, v in data.items()}
        return found

    def unconverged(self) -> list[str]:
        """What keeps each BrokerToken from being converged (empty once all are): Ready, no rotation in flight, each
        requested rotation done, every consumer Current and every share Shared on the current token."""
        problems = []
        for name, item in sorted(self.broker_tokens().items()):
            status = item.get("status") or {}
            ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
            member = self.by_name[name]
            if not ready or ready["status"] != "True":
                problems.append(f"{name}: Ready={ready and ready['status']} ({ready and ready.get('message')})")
            elif status.get("rotation"):
                problems.append(f"{name}: rotation in phase {status['rotation'].get('phase')}")
            elif name in self.rotations_requested and status.get("lastRotateRequest") != self.rotations_requested[name]:
                problems.append(f"{name}: the requested rotation has not happened")
            elif member.consumer and any(c.get("state") != "Current" for c in status.get("consumers") or [{}]):
                problems.append(f"{name}: consumers {status.get('consumers')}")
            elif member.shares_with and any(s.get("state") != "Shared" for s in status.get("sharedWith") or [{}]):
                problems.append(f"{name}: shares {status.get('sharedWith')}")
        return problems

    def clear_cut_off_provisions(self) -> None:
        """Do what a cut-off provision's status asks of its user: have Snyk clear the provisional token the operator
        could not save (the simulator's admin API plays Snyk support). Each BrokerToken at most once."""
        for name, item in self.broker_tokens().items():
            conditions = (item.get("status") or {}).get("conditions") or []
            if name in self.cut_off or not any(PROVISION_CUT_OFF in (c.get("message") or "") for c in conditions):
                continue
            with httpx.Client(base_url=self.env.simulator.admin_url, timeout=10) as admin:
                admin.delete(f"/provisional/{self.by_name[name].integration_id}").raise_for_status()
            self.cut_off.append(name)

    def wait_converged(self, timeout: float, *, clear_cut_off: bool = False) -> float:
        """Seconds until every BrokerToken converged; AssertionError with what is still wrong after `timeout`. With
        `clear_cut_off`, a rotation stalled on a provision answer lost to a kill gets the user's remedy on sight."""
        start = time.monotonic()
        problems: list[str] = ["not looked yet"]
        while time.monotonic() - start < timeout:
            try:
                if clear_cut_off:
                    self.clear_cut_off_provisions()
                problems = self.unconverged()
            except (ApiException, HTTPError) as error:
                problems = [f"the API server did not answer: {error}"]
            if not problems:
                return time.monotonic() - start
            time.sleep(1)
        raise AssertionError(f"{len(problems)} BrokerTokens not converged after {timeout:.0f} s: {problems[:10]}")

    def consumer_generations(self) -> dict[str, int]:
        listed = apps(self.env).list_namespaced_deployment(self.env.namespace).items
        return {
            str(d.metadata.name): int(d.metadata.generation or 0)
            for d in listed
            if str(d.metadata.name).endswith("-client")
        }


@dataclasses.dataclass
class Samples:
    """What the sampler saw while it ran."""

    taken: int = 0
    skipped: int = 0  # the API server or the simulator did not answer
    absent_secrets: list[str] = dataclasses.field(default_factory=list)
    refused_tokens: list[str] = dataclasses.field(default_factory=list)
    messages: Counter[str] = dataclasses.field(default_factory=Counter)


class Sampler:
    """Every `interval` seconds: is each BrokerToken's consumer Secret present (once it was written), does it hold
    a token Snyk accepts for its integration, and what do the statuses say?

    A Bridge rotation switches at Snyk first and writes the consumer Secret after (the bridges, on the new token,
    carry the traffic meanwhile), so while its rotation Secret exists a consumer Secret may hold the old token.
    Snyk's state is read before and after the Secrets, and a token is accepted if either read accepts it: a rotation
    that both starts and ends between two reads is not mistaken for a refused token."""

    def __init__(self, workload: Workload, interval: float = 1.0) -> None:
        self.workload = workload
        self.interval = interval
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="chaos-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self._sample()
            except (ApiException, HTTPError, OSError, KeyError):
                self.samples.skipped += 1

    def _sample(self) -> None:
        workload = self.workload
        before = workload.broker_tokens()
        snyk_before = workload.env.sim.state()
        secrets = workload.secrets()
        snyk_after = workload.env.sim.state()
        accepted: dict[str, set[str]] = {}
        for item in [*snyk_before["integrations"], *snyk_after["integrations"]]:
            accepted.setdefault(item["id"], set()).update(t for t in (item["token"], item["provisionalToken"]) if t)
        self.samples.taken += 1
        for name, item in before.items():
            member = workload.by_name[name]
            status = item.get("status") or {}
            for condition in status.get("conditions") or []:
                if condition["type"] == "Ready" and condition["status"] != "True":
                    self.samples.messages[f"{condition['reason']}: {condition.get('message', '')[:160]}"] += 1
            if not status.get("tokenFingerprint"):
                continue  # never written yet
            secret = secrets.get(name)
            if secret is None:
                self.samples.absent_secrets.append(f"{name} at sample {self.samples.taken}")
                continue
            rotating = f"{name}-snykbroker-rotation" in secrets
            if (
                member.provisioned
                and not rotating
                and secret.get("BROKER_TOKEN") not in accepted[member.integration_id]
            ):
                self.samples.refused_tokens.append(f"{name} at sample {self.samples.taken}")


@dataclasses.dataclass
class Verdict:
    """The figures of one scenario, as the closing note and chaos.json give them."""

    scenario: str
    fault_seconds: float
    converge_seconds: float
    lost_tokens: int
    # Rotations whose provision answer a kill cut off: stalled saying so, and finished once Snyk cleared the token.
    provisions_cut_off: int
    duplicated_provisions: int
    absent_secret_samples: int
    refused_token_samples: int
    tracebacks: int
    operator_restarts: int
    samples: int
    consumer_rollouts: dict[str, int]
    status_messages: list[str]
    problems: list[str]

    def record(self) -> None:
        """Merge into bench/results/chaos.json under the scenario's name."""
        figures = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        figures.setdefault("scenarios", {})[self.scenario] = {
            "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
            **{k: v for k, v in dataclasses.asdict(self).items() if k != "scenario"},
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")


def lost_tokens(workload: Workload, state: dict[str, Any], secrets: dict[str, dict[str, str]]) -> list[str]:
    """Every token Snyk issued is accounted for: the current token of its integration, in the consumer Secret (and so
    in custody), or switched away by a rotation; none is left outstanding as a provisional token. A given token stays
    in its consumer Secret. One line per token that is not."""
    by_integration = {item["id"]: item for item in state["integrations"]}
    held = {name: secret.get("BROKER_TOKEN") for name, secret in secrets.items()}
    lost = []
    for member in workload.members:
        if not member.provisioned:
            if held.get(member.name) != workload.given_tokens[member.name]:
                lost.append(f"{member.name}: the consumer Secret does not hold the given token")
            continue
        snyk_side = by_integration[member.integration_id]
        if snyk_side["provisionalToken"]:
            lost.append(f"{member.name}: a provisional token is outstanding at Snyk (issued, never switched)")
        if held.get(member.name) != snyk_side["token"]:
            lost.append(f"{member.name}: the consumer Secret does not hold the token Snyk routes to")
        for index in member.shares_with:
            clones = [i for i in state["integrations"] if i["orgId"] == org(member.group, index)]
            if [clone["token"] for clone in clones] != [snyk_side["token"]]:
                lost.append(f"{member.name}: the share with org {index} routes to another token")
    return lost


def duplicated_provisions(workload: Workload, state: dict[str, Any]) -> list[str]:
    """One provision per requested rotation, never two: one line per provision too many."""
    provisions = Counter(
        call["path"].split("/integrations/")[1].split("/")[0]
        for call in state["calls"]
        if call["endpoint"] == "provision_token" and 200 <= call["status"] < 300
    )
    duplicated = []
    for member in workload.members:
        wanted = 1 if member.name in workload.rotations_requested else 0
        # A cut-off provision took effect at Snyk (its token was cleared there), and the rotation provisioned again.
        wanted += workload.cut_off.count(member.name)
        duplicated += [f"{member.name}: a provision more than its {wanted} rotation(s)"] * max(
            0, provisions.get(member.integration_id, 0) - wanted
        )
    return duplicated


def rollout_storms(workload: Workload, rollouts: dict[str, int]) -> list[str]:
    """A consumer is rolled for its rotation (twice at most: onto the bridge's token, then settled), never else."""
    storms = []
    for name, rolled in rollouts.items():
        allowed = 2 if name.removesuffix("-client") in workload.rotations_requested else 0
        if rolled > allowed:
            storms.append(f"{name}: rolled {rolled} times, more than {allowed}")
    return storms


def judge(
    workload: Workload,
    *,
    scenario: str,
    fault_seconds: float,
    converge_seconds: float,
    samples: Samples,
    generations_before: dict[str, int],
    starts_before: int,
) -> Verdict:
    """The ledger, the duplicates, the rollouts, the samples and the log, after the workload converged."""
    env = workload.env
    state = env.sim.state()
    lost = lost_tokens(workload, state, workload.secrets())
    duplicated = duplicated_provisions(workload, state)
    generations_after = workload.consumer_generations()
    rollouts = {name: generations_after.get(name, 0) - before for name, before in generations_before.items()}
    return Verdict(
        scenario=scenario,
        fault_seconds=round(fault_seconds, 1),
        converge_seconds=round(converge_seconds, 1),
        lost_tokens=len(lost),
        provisions_cut_off=len(workload.cut_off),
        duplicated_provisions=len(duplicated),
        absent_secret_samples=len(samples.absent_secrets),
        refused_token_samples=len(samples.refused_tokens),
        tracebacks=env.operator.log_text().count("Traceback"),
        operator_restarts=env.operator.starts - starts_before,
        samples=samples.taken,
        consumer_rollouts={name: rolled for name, rolled in sorted(rollouts.items()) if rolled},
        status_messages=[message for message, _ in samples.messages.most_common(8)],
        problems=lost
        + duplicated
        + rollout_storms(workload, rollouts)
        + [f"absent Secret: {sample}" for sample in samples.absent_secrets[:5]]
        + [f"a token Snyk refuses: {sample}" for sample in samples.refused_tokens[:5]],
    )
