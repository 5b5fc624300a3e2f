"""The simulated world and the v1 semantics as pure logic: auth, lookups, enable, provision, switch, clone."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus

import pytest

from snyk_broker_operator.simulator import errors, operations, seed, state, views
from snyk_broker_operator.simulator.names import EndpointName, TokenKind, TokenOrigin

GROUP = "10000000-0000-4000-8000-000000000001"
OTHER_GROUP = "10000000-0000-4000-8000-000000000002"
PLATFORM = "20000000-0000-4000-8000-0000000000a1"
TEAM_A = "20000000-0000-4000-8000-0000000000a2"
TEAM_B = "20000000-0000-4000-8000-0000000000a3"
ELSEWHERE = "20000000-0000-4000-8000-0000000000b1"
GITHUB = "30000000-0000-4000-8000-0000000001a1"
GITLAB = "30000000-0000-4000-8000-0000000001a2"
TEAM_B_GITHUB = "30000000-0000-4000-8000-0000000001a3"
ELSEWHERE_GITHUB = "30000000-0000-4000-8000-0000000001b1"
GITLAB_TOKEN = "40000000-0000-4000-8000-00000000b0a2"
GROUP_KEY = "group-key"
TEAM_A_KEY = "team-a-key"
EVERYWHERE_KEY = "key-in-two-groups"
FIXED_TIME = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

SEED = seed.parse_seed(
    {
        "groups": [
            {
                "id": GROUP,
                "name": "acme",
                "orgs": [
                    {
                        "id": PLATFORM,
                        "name": "platform",
                        "integrations": [
                            {"id": GITHUB, "type": "github"},
                            {"id": GITLAB, "type": "gitlab", "brokerToken": GITLAB_TOKEN},
                        ],
                    },
                    {"id": TEAM_A, "name": "team-a"},
                    {"id": TEAM_B, "name": "team-b", "integrations": [{"id": TEAM_B_GITHUB, "type": "github"}]},
                ],
            },
            {
                "id": OTHER_GROUP,
                "name": "globex",
                "orgs": [
                    {
                        "id": ELSEWHERE,
                        "name": "elsewhere",
                        "integrations": [{"id": ELSEWHERE_GITHUB, "type": "github", "brokerEnabled": True}],
                    }
                ],
            },
        ],
        "apiKeys": [
            {"key": GROUP_KEY, "group": GROUP},
            {"key": TEAM_A_KEY, "orgs": [TEAM_A]},
            {"key": EVERYWHERE_KEY, "orgs": [PLATFORM, TEAM_A, ELSEWHERE]},
        ],
    }
)


@pytest.fixture
def world() -> state.World:
    return state.World.from_seed(SEED, rng=random.Random(0), clock=lambda: FIXED_TIME)


def _enable(world: state.World, integration_id: str = GITHUB, org_id: str = PLATFORM) -> str:
    body = operations.update_integration(
        world,
        key=GROUP_KEY,
        org_id=org_id,
        integration_id=integration_id,
        body={"type": "github", "broker": {"enabled": True}},
    )
    token: str = body["brokerToken"]
    return token


def test_generated_uuids_are_version_4_and_reproducible_from_the_random_seed() -> None:
    first = state.World(rng=random.Random(7))
    second = state.World(rng=random.Random(7))

    ids = [first.new_uuid() for _ in range(5)]

    assert ids == [second.new_uuid() for _ in range(5)]
    assert all(uuid.UUID(an_id).version == 4 for an_id in ids)
    assert len(set(ids)) == 5


def test_a_seeded_brokered_integration_without_a_token_gets_one_at_start(world: state.World) -> None:
    integration = world.integrations[ELSEWHERE_GITHUB]

    assert integration.token is not None
    assert [(issued.integration_id, issued.origin) for issued in world.issued] == [
        (GITLAB, TokenOrigin.SEED),
        (ELSEWHERE_GITHUB, TokenOrigin.SEED),
    ]


@pytest.mark.parametrize("key", [None, "", "unknown-key"], ids=["missing", "empty", "unknown"])
def test_a_missing_or_unknown_key_is_not_authorised(world: state.World, key: str | None) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.user_me(world, key=key)

    assert caught.value.body() == {"code": 401, "message": "Not authorised", "error": "Not authorised"}


def test_a_revoked_key_is_not_authorised(world: state.World) -> None:
    world.revoke_key(GROUP_KEY)

    with pytest.raises(errors.V1Error) as caught:
        operations.user_me(world, key=GROUP_KEY)

    assert caught.value.status == HTTPStatus.UNAUTHORIZED


def test_user_me_lists_the_orgs_the_key_can_reach_with_their_group(world: state.World) -> None:
    me = operations.user_me(world, key=TEAM_A_KEY)

    assert me["orgs"] == [{"id": TEAM_A, "name": "team-a", "group": {"id": GROUP, "name": "acme"}}]
    assert uuid.UUID(me["id"])


def test_list_integrations_maps_type_to_id(world: state.World) -> None:
    assert operations.list_integrations(world, key=GROUP_KEY, org_id=PLATFORM) == {"github": GITHUB, "gitlab": GITLAB}


def test_an_org_outside_the_keys_scope_is_forbidden(world: state.World) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.list_integrations(world, key=TEAM_A_KEY, org_id=PLATFORM)

    assert caught.value.status == HTTPStatus.FORBIDDEN


def test_unknown_org_integration_and_type_are_not_found_with_a_message_naming_them(world: state.World) -> None:
    missing = "99999999-0000-4000-8000-000000000000"
    failures: list[errors.V1Error] = []
    calls: list[Callable[[], object]] = [
        lambda: operations.list_integrations(world, key=GROUP_KEY, org_id=missing),
        lambda: operations.provision_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=missing),
        lambda: operations.get_integration_by_type(world, key=GROUP_KEY, org_id=TEAM_A, integration_type="github"),
    ]
    for call in calls:
        with pytest.raises(errors.V1Error) as caught:
            call()
        failures.append(caught.value)

    assert [failure.status for failure in failures] == [HTTPStatus.NOT_FOUND] * 3
    assert missing in failures[0].message and "Org" in failures[0].message
    assert missing in failures[1].message and "Integration" in failures[1].message
    assert "github" in failures[2].message and TEAM_A in failures[2].message


def test_an_integration_of_another_org_is_not_found_through_this_org(world: state.World) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.provision_token(world, key=GROUP_KEY, org_id=TEAM_A, integration_id=GITHUB)

    assert caught.value.status == HTTPStatus.NOT_FOUND


def test_enabling_broker_issues_a_token_once_and_returns_the_same_token_again(world: state.World) -> None:
    first = _enable(world)
    second = _enable(world)

    assert first == second
    assert world.integrations[GITHUB].broker_enabled is True
    api_issued = [issued for issued in world.issued if issued.origin is TokenOrigin.API]
    assert [(issued.token, issued.kind, issued.issued_at) for issued in api_issued] == [
        (first, TokenKind.BROKER, FIXED_TIME)
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"type": "gitlab", "broker": {"enabled": True}}, "does not match"),
        ({"broker": {"enabled": True}}, "'type'"),
        ({"type": "github"}, "'broker' or 'credentials'"),
        ({"type": "github", "broker": {"enabled": "yes"}}, "boolean 'enabled'"),
        ({"type": "github", "broker": {"enabled": False}}, "requires 'credentials'"),
        (["not", "an", "object"], "JSON object"),
    ],
    ids=["type-mismatch", "no-type", "nothing-to-do", "enabled-not-bool", "disable-without-credentials", "array"],
)
def test_a_bad_update_body_is_a_bad_request(world: state.World, body: object, message: str) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.update_integration(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body=body)

    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert message in caught.value.message


def test_disabling_broker_with_credentials_clears_the_token(world: state.World) -> None:
    body = operations.update_integration(
        world,
        key=GROUP_KEY,
        org_id=PLATFORM,
        integration_id=GITLAB,
        body={"type": "gitlab", "broker": {"enabled": False}, "credentials": {"token": "x"}},
    )

    assert body == {"id": GITLAB}
    assert world.integrations[GITLAB].token is None
    assert world.integrations[GITLAB].broker_enabled is False


def test_provisioning_needs_a_brokered_integration(world: state.World) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.provision_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB)

    assert caught.value.status == HTTPStatus.BAD_REQUEST


def test_only_one_provisional_token_may_be_outstanding_in_a_group(world: state.World) -> None:
    _enable(world)
    operations.provision_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITLAB)

    with pytest.raises(errors.V1Error) as caught:
        operations.provision_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB)

    assert caught.value.status == HTTPStatus.CONFLICT
    assert "already outstanding in this group" in caught.value.message
    # Another group is unaffected.
    other = operations.provision_token(world, key=EVERYWHERE_KEY, org_id=ELSEWHERE, integration_id=ELSEWHERE_GITHUB)
    assert other["provisionalBrokerToken"]


def test_switching_without_a_provisional_token_is_a_bad_request(world: state.World) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.switch_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITLAB)

    assert caught.value.status == HTTPStatus.BAD_REQUEST
    assert "no provisional broker token" in caught.value.message


def test_switch_moves_every_integration_in_the_group_sharing_the_old_token(world: state.World) -> None:
    old = _enable(world)
    clone = operations.clone_integration(
        world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body={"destinationOrgPublicId": TEAM_A}
    )["newIntegrationId"]
    new = operations.provision_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB)[
        "provisionalBrokerToken"
    ]

    operations.switch_token(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB)

    assert new != old
    assert world.integrations[GITHUB].token == new
    assert world.integrations[clone].token == new
    assert world.integrations[GITHUB].provisional_token is None
    assert world.integrations[GITLAB].token == GITLAB_TOKEN  # a different token stays put


def test_clone_copies_type_broker_state_and_token(world: state.World) -> None:
    token = _enable(world)

    new_id = operations.clone_integration(
        world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body={"destinationOrgPublicId": TEAM_A}
    )["newIntegrationId"]

    clone = world.integrations[new_id]
    assert (clone.org_id, clone.type, clone.broker_enabled, clone.token) == (TEAM_A, "github", True, token)
    assert operations.get_integration_by_type(world, key=GROUP_KEY, org_id=TEAM_A, integration_type="github") == {
        "id": new_id
    }


@pytest.mark.parametrize(
    ("key", "destination", "expected"),
    [
        (GROUP_KEY, TEAM_B, HTTPStatus.CONFLICT),
        (EVERYWHERE_KEY, ELSEWHERE, HTTPStatus.BAD_REQUEST),
        (GROUP_KEY, ELSEWHERE, HTTPStatus.FORBIDDEN),
        (GROUP_KEY, "99999999-0000-4000-8000-000000000000", HTTPStatus.NOT_FOUND),
    ],
    ids=["destination-has-the-type", "across-groups", "no-access-to-destination", "unknown-destination"],
)
def test_a_refused_clone_changes_nothing(world: state.World, key: str, destination: str, expected: HTTPStatus) -> None:
    before = dict(world.integrations)

    with pytest.raises(errors.V1Error) as caught:
        operations.clone_integration(
            world, key=key, org_id=PLATFORM, integration_id=GITHUB, body={"destinationOrgPublicId": destination}
        )

    assert caught.value.status == expected
    assert world.integrations == before


def test_the_call_log_keeps_a_fingerprint_of_the_key_and_never_the_key(world: state.World) -> None:
    world.record_call(method="GET", path="/v1/user/me", endpoint=EndpointName.USER_ME, status=200, key=GROUP_KEY)
    world.reset_calls()
    call = world.record_call(method="GET", path="/v1/user/me", endpoint=EndpointName.USER_ME, status=401, key=None)
    world.record_call(method="GET", path="/v1/user/me", endpoint=EndpointName.USER_ME, status=200, key=GROUP_KEY)

    snapshot = views.snapshot(world)
    expected = "sha256:" + hashlib.sha256(GROUP_KEY.encode()).hexdigest()[:12]
    assert [entry["keyFingerprint"] for entry in snapshot["calls"]] == [None, expected]
    assert call.index == 1  # indexes keep counting across a reset
    assert GROUP_KEY not in repr(snapshot)


SITE = "http://127.0.0.1:8080"
BROKERED_GITHUB = {"type": "github", "broker": {"enabled": True}}


def test_list_orgs_shows_the_orgs_a_key_reaches_with_slug_url_and_group(world: state.World) -> None:
    listed = operations.list_orgs(world, key=EVERYWHERE_KEY, site_url=SITE + "/")

    assert listed == {
        "orgs": [
            {
                "name": "platform",
                "id": PLATFORM,
                "slug": "platform",
                "url": f"{SITE}/org/platform",
                "group": {"name": "acme", "id": GROUP},
            },
            {
                "name": "team-a",
                "id": TEAM_A,
                "slug": "team-a",
                "url": f"{SITE}/org/team-a",
                "group": {"name": "acme", "id": GROUP},
            },
            {
                "name": "elsewhere",
                "id": ELSEWHERE,
                "slug": "elsewhere",
                "url": f"{SITE}/org/elsewhere",
                "group": {"name": "globex", "id": OTHER_GROUP},
            },
        ]
    }


def test_list_orgs_with_a_group_key_shows_its_group_only(world: state.World) -> None:
    listed = operations.list_orgs(world, key=GROUP_KEY, site_url=SITE)

    assert [org["id"] for org in listed["orgs"]] == [PLATFORM, TEAM_A, TEAM_B]


def test_list_orgs_needs_a_usable_key(world: state.World) -> None:
    with pytest.raises(errors.V1Error) as caught:
        operations.list_orgs(world, key="unknown-key", site_url=SITE)

    assert caught.value.status == HTTPStatus.UNAUTHORIZED


def test_user_me_carries_an_email_derived_from_the_username_when_none_is_given(world: state.World) -> None:
    world.add_key("named-key", group_id=GROUP, username="ci-bot")
    world.add_key("emailed-key", group_id=GROUP, username="ci-bot", email="ci@acme.example")

    assert operations.user_me(world, key="named-key")["email"] == "ci-bot@simulator.invalid"
    assert operations.user_me(world, key="emailed-key")["email"] == "ci@acme.example"


@pytest.mark.parametrize(
    ("username", "email"),
    [
        ("ci-bot", "ci-bot@simulator.invalid"),
        ("first.last_2", "first.last_2@simulator.invalid"),
        ("Globex Bot", "simulated-user-0123abcd@simulator.invalid"),
        ("a@b", "simulated-user-0123abcd@simulator.invalid"),
    ],
)
def test_a_derived_email_uses_the_username_only_when_it_is_a_plain_mailbox_name(username: str, email: str) -> None:
    assert state.derived_email(username, "sha256:0123abcd4567") == email


def test_adding_a_brokered_integration_issues_its_first_token_into_the_ledger(world: state.World) -> None:
    added = operations.add_integration(world, key=GROUP_KEY, org_id=TEAM_A, body=BROKERED_GITHUB)

    integration = world.integrations[added["id"]]
    assert (integration.org_id, integration.group_id, integration.type) == (TEAM_A, GROUP, "github")
    assert (integration.broker_enabled, integration.token) == (True, added["brokerToken"])
    assert world.issued[-1] == state.IssuedToken(
        token=added["brokerToken"],
        kind=TokenKind.BROKER,
        integration_id=added["id"],
        org_id=TEAM_A,
        issued_at=FIXED_TIME,
        origin=TokenOrigin.API,
    )


def test_adding_an_integration_with_credentials_issues_no_token(world: state.World) -> None:
    issued_before = list(world.issued)

    added = operations.add_integration(
        world, key=GROUP_KEY, org_id=TEAM_A, body={"type": "gitlab", "credentials": {"token": "x"}}
    )

    assert set(added) == {"id"}
    assert (world.integrations[added["id"]].broker_enabled, world.integrations[added["id"]].token) == (False, None)
    assert world.issued == issued_before


@pytest.mark.parametrize(
    ("key", "org_id", "body", "expected"),
    [
        (GROUP_KEY, PLATFORM, BROKERED_GITHUB, HTTPStatus.CONFLICT),
        (TEAM_A_KEY, PLATFORM, BROKERED_GITHUB, HTTPStatus.FORBIDDEN),
        (GROUP_KEY, "99999999-0000-4000-8000-000000000000", BROKERED_GITHUB, HTTPStatus.NOT_FOUND),
        (TEAM_A_KEY, PLATFORM, {"no": "type"}, HTTPStatus.FORBIDDEN),  # access is checked before the body
        (GROUP_KEY, TEAM_A, {"type": "svn", "broker": {"enabled": True}}, HTTPStatus.BAD_REQUEST),
        (GROUP_KEY, TEAM_A, {"type": "github", "broker": {"enabled": False}}, HTTPStatus.BAD_REQUEST),
    ],
    ids=["type-exists", "no-access", "unknown-org", "access-before-body", "unknown-type", "unbrokered-no-credentials"],
)
def test_a_refused_add_changes_nothing(
    world: state.World, key: str, org_id: str, body: object, expected: HTTPStatus
) -> None:
    integrations_before, issued_before = dict(world.integrations), list(world.issued)

    with pytest.raises(errors.V1Error) as caught:
        operations.add_integration(world, key=key, org_id=org_id, body=body)

    assert caught.value.status == expected
    assert (world.integrations, world.issued) == (integrations_before, issued_before)


def test_settings_updates_merge_and_what_callers_get_back_is_a_copy(world: state.World) -> None:
    answered = operations.update_integration_settings(
        world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body={"autoDepUpgradeLimit": 9}
    )
    answered["pullRequestAssignment"]["assignees"].append("tampered")
    read = operations.get_integration_settings(world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB)
    read["autoDepUpgradeLimit"] = 0

    stored = world.integrations[GITHUB].settings
    assert stored["autoDepUpgradeLimit"] == 9
    assert stored["pullRequestAssignment"]["assignees"] == []
    assert world.integrations[GITLAB].settings["autoDepUpgradeLimit"] == 2


def test_clone_copies_the_settings_without_sharing_them(world: state.World) -> None:
    operations.update_integration_settings(
        world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body={"pullRequestTestEnabled": False}
    )
    new_id = operations.clone_integration(
        world, key=GROUP_KEY, org_id=PLATFORM, integration_id=GITHUB, body={"destinationOrgPublicId": TEAM_A}
    )["newIntegrationId"]

    operations.update_integration_settings(
        world, key=GROUP_KEY, org_id=TEAM_A, integration_id=new_id, body={"autoDepUpgradeLimit": 5}
    )

    assert world.integrations[new_id].settings["pullRequestTestEnabled"] is False
    assert world.integrations[GITHUB].settings["autoDepUpgradeLimit"] == 2
