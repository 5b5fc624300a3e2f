"""`kubectl snyk-broker` views: what status, describe, orgs and integrations show, from objects as the API server
returns them and a fixed `now` (no cluster, no clock)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from snyk_broker_operator.adapters.snyk import Org
from snyk_broker_operator.models import RotationPhase, RotationStrategy
from snyk_broker_operator.plugin import render, views

NOW = datetime(2026, 12, 4, 6, 0, 0, tzinfo=UTC)
ORG = "0a000000-0000-4000-8000-00000000000a"
ORG_B = "0b000000-0000-4000-8000-00000000000b"
ORG_C = "0c000000-0000-4000-8000-00000000000c"
GITHUB = "1a000000-0000-4000-8000-0000000000a1"
CLONE = "1b000000-0000-4000-8000-0000000000b1"
FP = "sha256:58685cf503f2"
NEW_FP = "sha256:0123456789ab"


def at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": at(60)}


def ready_status(**extra: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [
            condition("Ready", "True", "Reconciled", "token in place"),
            condition("Reconciling", "False", "Reconciled"),
            condition("Stalled", "False", "Reconciled"),
        ],
        "integrationId": GITHUB,
        "tokenFingerprint": FP,
        "revision": 1,
        "issuedAt": at(300),
    }
    status.update(extra)
    return status


def token(
    name: str = "github", namespace: str = "team-a", status: dict[str, Any] | None = None, **spec: Any
) -> dict[str, Any]:
    full_spec: dict[str, Any] = {
        "connectionRef": {"name": "snyk"},
        "orgId": ORG,
        "integration": {"type": "github"},
        "source": {"provision": {}},
    }
    full_spec.update(spec)
    body: dict[str, Any] = {
        "apiVersion": "snykbroker.dev/v1alpha1",
        "kind": "BrokerToken",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "generation": 1},
        "spec": full_spec,
    }
    if status is not None:
        body["status"] = status
    return body


def consumer(name: str, state: str, **extra: Any) -> dict[str, Any]:
    return {"kind": "Deployment", "name": name, "state": state, "desiredReplicas": 1, **extra}


# render


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (-5, "<invalid>"),
        (-1, "0s"),
        (45, "45s"),
        (119, "119s"),
        (120, "2m"),
        (303, "5m3s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 60 * 7, "3h7m"),
        (20 * 3600, "20h"),
        (3 * 86400, "3d"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (90 * 86400, "90d"),
        (3 * 365 * 86400, "3y"),
        (3 * 365 * 86400 + 10 * 86400, "3y10d"),
        (9 * 365 * 86400 + 10 * 86400, "9y"),
    ],
    ids=lambda value: str(value),
)
def test_durations_read_as_kubectl_shows_ages(seconds: int, shown: str) -> None:
    assert render.human_duration(timedelta(seconds=seconds)) == shown


def test_a_table_aligns_its_columns_three_spaces_apart_and_shows_empty_cells_as_none() -> None:
    text = render.table(("NAME", "READY"), [["github", "True"], ["a-much-longer-name", ""]])

    assert text.splitlines() == [
        "NAME                 READY",
        "github               True",
        "a-much-longer-name   <none>",
    ]


def test_documents_are_json_or_yaml_in_the_order_given_and_nothing_else() -> None:
    data = {"b": 1, "a": [{"x": None}]}

    assert json.loads(render.document(data, "json")) == data
    assert render.document(data, "yaml").splitlines()[0] == "b: 1"
    assert yaml.safe_load(render.document(data, "yaml")) == data
    with pytest.raises(ValueError, match="not a document format"):
        render.document(data, "table")


# status


def test_a_ready_token_shows_its_fingerprint_age_consumers_and_no_problem() -> None:
    body = token(status=ready_status(consumers=[consumer("a", "Current"), consumer("b", "Current")]))

    (row,) = views.summaries([body], NOW)

    assert (row.ready, row.fingerprint, row.token_age, row.problem) == ("True", FP, "5m", "")
    assert row.consumers.text("Current") == "2/2 Current"
    assert row.next_rotation == "on request"
    assert views.all_ready([row])


def test_a_stalled_token_shows_the_stalled_message_as_its_problem() -> None:
    status = ready_status()
    status["conditions"] = [
        condition("Ready", "False", "AuthenticationFailed", "Snyk refused the API key"),
        condition("Stalled", "True", "AuthenticationFailed", "Snyk refused the API key: fix the Secret snyk-api-token"),
    ]

    (row,) = views.summaries([token(status=status)], NOW)

    assert row.ready == "False"
    assert row.problem == "Snyk refused the API key: fix the Secret snyk-api-token"
    assert not views.all_ready([row])


def test_a_token_on_its_way_shows_the_ready_message_and_a_ready_one_its_first_warning() -> None:
    progressing = ready_status()
    progressing["conditions"] = [condition("Ready", "False", "RollingOut", "waiting for 1 consumer to roll out")]
    warned = ready_status(warnings=[{"reason": "HAClientLimitExceeded", "message": "5 HA clients on one token"}])

    rows = views.summaries([token("a", status=progressing), token("b", status=warned)], NOW)

    assert [row.problem for row in rows] == ["waiting for 1 consumer to roll out", "5 HA clients on one token"]


def test_a_token_without_status_is_unknown_and_asks_whether_the_operator_runs() -> None:
    (row,) = views.summaries([token()], NOW)

    assert (row.ready, row.fingerprint, row.token_age) == ("Unknown", None, "")
    assert row.problem == views.NOT_RECONCILED
    assert row.consumers.text("Current") == "none" and row.shares.text() == "none"


def test_an_unreadable_status_is_treated_as_no_status() -> None:
    (row,) = views.summaries([token(status={"tokenFingerprint": "not a fingerprint"})], NOW)

    assert row.ready == "Unknown"


def test_a_status_without_a_ready_condition_yet_is_not_reconciled() -> None:
    (row,) = views.summaries([token(status={"tokenFingerprint": FP})], NOW)

    assert (row.ready, row.problem) == ("Unknown", views.NOT_RECONCILED)


@pytest.mark.parametrize(
    ("status_extra", "spec", "shown"),
    [
        ({"nextRotationAt": (NOW + timedelta(days=89, hours=23)).strftime("%Y-%m-%dT%H:%M:%SZ")}, {}, "in 89d"),
        ({"nextRotationAt": at(5)}, {}, "due"),
        ({"rotation": {"phase": "Bridging", "strategy": "Bridge"}}, {}, "rotating (Bridging)"),
        ({}, {"rotation": {"every": "2160h"}}, "scheduled"),
        ({}, {}, "on request"),
    ],
    ids=[
        "a schedule shows the time left",
        "a passed time is due",
        "a rotation in progress shows its phase",
        "a schedule not computed yet is scheduled",
        "no schedule is on request",
    ],
)
def test_next_rotation(status_extra: dict[str, Any], spec: dict[str, Any], shown: str) -> None:
    (row,) = views.summaries([token(status=ready_status(**status_extra), **spec)], NOW)

    assert row.next_rotation == shown


def test_shares_count_shared_conflicts_and_orgs_not_shared_yet() -> None:
    shares = [
        {"orgId": ORG_B, "integrationId": CLONE, "state": "Shared"},
        {"orgId": ORG_C, "state": "Conflict", "message": "org already has github"},
    ]
    third = "0d000000-0000-4000-8000-00000000000d"
    body = token(
        status=ready_status(sharedWith=shares), shareWith=[{"orgId": ORG_B}, {"orgId": ORG_C}, {"orgId": third}]
    )

    (row,) = views.summaries([body], NOW)

    assert row.shares.text() == "1 Shared, 1 Conflict, 1 pending"
    assert row.as_json()["shares"] == {"shared": 1, "conflict": 1, "pending": 1}


def test_the_status_table_has_a_namespace_column_only_across_namespaces_and_rows_in_order() -> None:
    rows = views.summaries(
        [token("b", "team-b", status=ready_status()), token("a", "team-a", status=ready_status())], NOW
    )

    one = views.status_table(rows, all_namespaces=False).splitlines()
    every = views.status_table(rows, all_namespaces=True).splitlines()

    assert one[0].split() == [
        "NAME",
        "READY",
        "FINGERPRINT",
        "TOKEN",
        "AGE",
        "NEXT",
        "ROTATION",
        "CONSUMERS",
        "SHARES",
        "PROBLEM",
    ]
    assert every[0].startswith("NAMESPACE") and every[1].startswith("team-a") and every[2].startswith("team-b")
    assert one[1].split()[:4] == ["a", "True", FP, "5m"]


def test_the_json_form_of_a_row_carries_timestamps_and_counts() -> None:
    (row,) = views.summaries([token(status=ready_status(consumers=[consumer("a", "RollingOut")]))], NOW)

    doc = row.as_json()

    assert doc["issuedAt"] == at(300) and doc["tokenFingerprint"] == FP and doc["nextRotationAt"] is None
    assert doc["consumers"] == {"current": 0, "total": 1} and doc["problem"] is None


# describe


def event(
    reason: str, seconds_ago: float | None, *, kind: str = "Normal", count: int = 1, field: str = "eventTime"
) -> dict[str, Any]:
    found: dict[str, Any] = {"reason": reason, "type": kind, "message": f"{reason} happened", "count": count}
    if seconds_ago is not None:
        found[field] = (NOW - timedelta(seconds=seconds_ago)).isoformat()
    return found


def test_events_are_shown_oldest_first_whatever_time_field_they_carry() -> None:
    events = [
        event("TokenSwitched", 10),
        event("RotationStarted", 40, field="lastTimestamp"),
        event("BridgeReady", 20, field="firstTimestamp"),
        event("Odd", None),
        {"reason": "Created", "metadata": {"creationTimestamp": at(50)}},
        event("Bad", None) | {"eventTime": "yesterday"},
    ]

    lines = views.recent_events(events)

    assert [line.reason for line in lines] == [
        "Odd",
        "Bad",
        "Created",
        "RotationStarted",
        "BridgeReady",
        "TokenSwitched",
    ]


def test_only_the_latest_events_are_shown() -> None:
    events = [event(f"E{i}", 100 - i) for i in range(30)]

    lines = views.recent_events(events)

    assert len(lines) == views.RECENT_EVENTS and lines[-1].reason == "E29" and lines[0].reason == "E10"
    assert views.recent_events(events, limit=0) == []


def rotating_status(reconciling_message: str | None) -> dict[str, Any]:
    status = ready_status(
        rotation={
            "phase": "Bridging",
            "strategy": "Bridge",
            "trigger": "Annotation",
            "startedAt": at(30),
            "provisionalFingerprint": NEW_FP,
        },
        consumers=[
            consumer(
                "client",
                "RollingOut",
                updatedReplicas=0,
                availableReplicas=1,
                reason="RollingOut",
                message="0 of 1 updated",
                fingerprint=FP,
            )
        ],
        consumersReady="0/1",
        sharedWith=[{"orgId": ORG_B, "integrationId": CLONE, "state": "Shared"}],
        warnings=[{"reason": "ClientURLMismatch", "message": "two client URLs"}],
    )
    status["conditions"] = [
        condition("Ready", "False", "Rotating", "rotating"),
        condition("Reconciling", "True" if reconciling_message else "False", "Rotating", reconciling_message or ""),
    ]
    return status


def test_describe_shows_the_rotation_its_phase_and_what_it_waits_for_in_the_operators_words() -> None:
    body = token(
        status=rotating_status("waiting for bridge client-bridge to become available"),
        shareWith=[{"orgId": ORG_B}, {"orgId": ORG_C}],
        rotation={"every": "2160h"},
    )
    events = [event("RotationStarted", 30), event("BridgeReady", 5, count=2)]

    doc = views.description(body, events, NOW)
    text = views.describe_text(doc, NOW)

    assert doc["rotation"]["phase"] == "Bridging"
    assert doc["rotation"]["waitingFor"] == "waiting for bridge client-bridge to become available"
    assert [share["state"] for share in doc["shares"]] == ["Shared", "Pending"]
    assert doc["integration"] == {"type": "github", "id": GITHUB}
    assert "Rotation:      Bridging (Bridge, by Annotation, started 30s ago)" in text
    assert "  Waiting for: waiting for bridge client-bridge to become available" in text
    assert f"  New token:   {NEW_FP}" in text
    assert "Schedule:      every 2160h, strategy Bridge" in text
    assert "Consumers (0/1 ready):" in text and "client" in text and "0/1" in text
    assert "ClientURLMismatch: two client URLs" in text
    assert text.index("RotationStarted") < text.index("BridgeReady") and "(x2)" in text
    json.dumps(doc)  # the -o json form is plain data


def test_without_the_operators_words_the_rotation_waits_for_what_its_phase_means() -> None:
    doc = views.description(token(status=rotating_status(None)), [], NOW)

    assert doc["rotation"]["waitingFor"] == views.PHASE_WAITS[(RotationStrategy.BRIDGE, RotationPhase.BRIDGING)]


def test_describe_of_a_token_never_reconciled_says_so_everywhere() -> None:
    body = token(integration={"id": GITHUB}, source={"existingSecretRef": {"name": "given"}})

    doc = views.description(body, [], NOW)
    text = views.describe_text(doc, NOW)

    assert doc["integration"] == {"id": GITHUB} and doc["source"] == "existingSecretRef"
    assert doc["rotation"] is None and doc["conditions"] == [] and doc["events"] == []
    assert "Rotation:      none in progress" in text and f"Problem:       {views.NOT_RECONCILED}" in text
    assert text.count("\n  <none>") == 4  # conditions, consumers, shares, events


def test_describe_of_a_ready_token_lists_its_conditions_and_next_rotation() -> None:
    status = ready_status(nextRotationAt=(NOW + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    doc = views.description(token(status=status), [event("TokenIssued", 300)], NOW)

    text = views.describe_text(doc, NOW)

    assert doc["ready"] == "True" and doc["problem"] is None
    assert "Next rotation: in 3h" in text and "Token age:     5m" in text and "Problem:       -" in text
    assert "  Ready         True     Reconciled   60s     token in place" in text


# orgs and integrations


def test_integrations_name_their_owner_a_share_a_conflict_and_a_token_not_resolved_yet() -> None:
    owner = token(
        "owner", status=ready_status(sharedWith=[{"orgId": ORG_B, "integrationId": CLONE, "state": "Shared"}])
    )
    conflict_status = ready_status(
        integrationId="1c000000-0000-4000-8000-0000000000c1",
        sharedWith=[{"orgId": ORG_B, "integrationId": CLONE, "state": "Conflict"}],
    )
    conflicting = token("other", namespace="team-b", status=conflict_status, orgId=ORG_C)
    unresolved = token("new", status=None, orgId=ORG_B, integration={"type": "gitlab"})
    by_id = token("by-id", status=None, orgId=ORG_B, integration={"id": CLONE})
    bodies = [owner, conflicting, unresolved, by_id]

    in_b = views.integrations_view(ORG_B, {"github": CLONE, "gitlab": "1d000000-0000-4000-8000-0000000000d1"}, bodies)
    in_a = views.integrations_view(ORG, {"github": GITHUB}, bodies)
    table = views.integrations_table(in_b).splitlines()

    assert [m["name"] for m in in_a[0]["brokerTokens"]] == ["owner"]
    assert [(m["name"], m["role"]) for m in in_b[0]["brokerTokens"]] == [
        ("by-id", "owner"),
        ("owner", "shared"),
        ("other", "conflict"),
    ]
    assert [(m["name"], m["ready"]) for m in in_b[1]["brokerTokens"]] == [("new", "Unknown")]
    assert table[0].split() == ["TYPE", "ID", "MANAGED", "BY", "READY"]
    assert "team-a/by-id, team-a/owner (shared), team-b/other (conflict)" in table[1]
    assert views.integrations_table([{"type": "gitlab", "id": CLONE, "brokerTokens": []}]).splitlines()[1].split() == [
        "gitlab",
        CLONE,
        "-",
        "-",
    ]


def test_orgs_list_the_brokertokens_in_each_org_as_owner_or_share() -> None:
    orgs = [
        Org(id=ORG, name="platform", slug="platform", group_id="g", group_name="acme"),
        Org(id=ORG_B, name="team-b", slug="team-b", group_id="g", group_name="acme"),
        Org(id=ORG_C, name="personal"),
    ]
    bodies = [token("github", shareWith=[{"orgId": ORG_B}]), token("gitlab", namespace="team-b")]

    docs = views.orgs_view(orgs, bodies)
    table = views.orgs_table(docs).splitlines()

    assert [doc["brokerTokens"] for doc in docs] == [["team-a/github", "team-b/gitlab"], ["team-a/github"], []]
    assert docs[2]["group"] is None
    assert table[0].split() == ["NAME", "ID", "SLUG", "GROUP", "BROKERTOKENS"]
    assert table[3].split() == ["personal", ORG_C, "<none>", "<none>", "-"]
