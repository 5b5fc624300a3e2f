"""The simulator's endpoints for the kubectl plugin over real HTTP: list orgs, add an integration, its settings, email.

Served from the shipped example seed (group "acme": orgs platform and payments; group "globex": research, whose
slug is set in the seed). Raw httpx calls pin the wire shapes Snyk documents for ``GET /orgs``,
``POST /org/{orgId}/integrations``, ``GET|PUT .../{integrationId}/settings`` and the email of ``GET /user/me``.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from snyk_broker_operator.simulator import RunningSimulator

GROUP_KEY = "example-key-with-group-access"
PAYMENTS_KEY = "example-key-for-payments"
GLOBEX_KEY = "example-key-for-globex"
ACME = "3f0b5c1e-8a4d-4e2f-9b6a-000000000001"
GLOBEX = "3f0b5c1e-8a4d-4e2f-9b6a-000000000002"
PLATFORM = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a1"
PAYMENTS = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000a2"
RESEARCH = "3f0b5c1e-8a4d-4e2f-9b6a-0000000000c1"
GITHUB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a1"
GITLAB = "3f0b5c1e-8a4d-4e2f-9b6a-0000000001a2"
MISSING = "00000000-0000-4000-8000-000000000000"
BROKERED_GITHUB = {"type": "github", "broker": {"enabled": True}}
GITHUB_WITH_CREDENTIALS = {"type": "github", "credentials": {"token": "GITHUB_TOKEN"}}

RANDOM_SEED = 11  # the simulator fixture (conftest.py) uses it


def _assert_v1_error(response: httpx.Response, status: int, *fragments: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"code", "message", "error"}
    assert body["code"] == status
    assert body["message"] == body["error"]
    assert uuid.UUID(response.headers["x-error-reference"])
    for fragment in fragments:
        assert fragment in body["message"]


async def _state(admin: httpx.AsyncClient) -> dict[str, Any]:
    state: dict[str, Any] = (await admin.get("/state")).json()
    return state


@pytest.fixture
async def payments_api(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    """A raw client with the key scoped to org "payments" only."""
    headers = {"Authorization": f"token {PAYMENTS_KEY}"}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers) as client:
        yield client


@pytest.fixture
async def anonymous(simulator: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=simulator.base_url) as client:
        yield client


# Listing orgs


async def test_list_orgs_shows_each_org_the_group_key_reaches_with_slug_url_and_group(
    simulator: RunningSimulator, api: httpx.AsyncClient
) -> None:
    response = await api.get("/orgs")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    site = simulator.root_url
    assert response.json() == {
        "orgs": [
            {
                "name": "platform",
                "id": PLATFORM,
                "slug": "platform",
                "url": f"{site}/org/platform",
                "group": {"name": "acme", "id": ACME},
            },
            {
                "name": "payments",
                "id": PAYMENTS,
                "slug": "payments",
                "url": f"{site}/org/payments",
                "group": {"name": "acme", "id": ACME},
            },
        ]
    }


async def test_an_org_scoped_key_lists_only_its_orgs(payments_api: httpx.AsyncClient) -> None:
    orgs = (await payments_api.get("/orgs")).json()["orgs"]

    assert [(org["id"], org["group"]["id"]) for org in orgs] == [(PAYMENTS, ACME)]


async def test_a_slug_set_in_the_seed_is_the_one_listed(simulator: RunningSimulator) -> None:
    async with httpx.AsyncClient(
        base_url=simulator.base_url, headers={"Authorization": f"token {GLOBEX_KEY}"}
    ) as client:
        (research,) = (await client.get("/orgs")).json()["orgs"]

    assert (research["id"], research["slug"], research["group"]) == (
        RESEARCH,
        "globex-research",
        {"name": "globex", "id": GLOBEX},
    )
    assert research["url"].endswith("/org/globex-research")


@pytest.mark.parametrize("authorization", [None, "token not-a-known-key"], ids=["missing", "unknown"])
async def test_list_orgs_without_a_usable_key_is_401(simulator: RunningSimulator, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers) as client:
        response = await client.get("/orgs")

    _assert_v1_error(response, 401, "Not authorised")


# The email of user/me


async def test_user_me_shows_the_seeded_email(simulator: RunningSimulator) -> None:
    async with httpx.AsyncClient(
        base_url=simulator.base_url, headers={"Authorization": f"token {GLOBEX_KEY}"}
    ) as client:
        me = (await client.get("/user/me")).json()

    assert (me["username"], me["email"]) == ("globex-bot", "globex-bot@globex.example")


async def test_user_me_derives_an_email_at_the_reserved_invalid_domain_when_the_seed_gives_none(
    api: httpx.AsyncClient,
) -> None:
    me = (await api.get("/user/me")).json()

    assert me["email"] == f"{me['username']}@simulator.invalid"
    assert set(me) == {"id", "username", "email", "orgs"}


async def test_a_key_added_through_the_admin_api_may_carry_an_email(
    simulator: RunningSimulator, admin: httpx.AsyncClient
) -> None:
    added = await admin.post("/keys", json={"key": "plugin-key", "orgs": [PAYMENTS], "email": "dev@acme.example"})
    refused = await admin.post("/keys", json={"key": "other-key", "orgs": [PAYMENTS], "email": "not an email"})

    assert added.status_code == 200, added.text
    _assert_v1_error(refused, 400, "email")
    async with httpx.AsyncClient(base_url=simulator.base_url, headers={"Authorization": "token plugin-key"}) as client:
        assert (await client.get("/user/me")).json()["email"] == "dev@acme.example"


# Adding an integration


async def test_adding_a_brokered_integration_answers_its_id_and_first_broker_token(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    response = await api.post(f"/org/{PAYMENTS}/integrations", json=BROKERED_GITHUB)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"id", "brokerToken"}
    assert uuid.UUID(body["id"]).version == 4
    assert uuid.UUID(body["brokerToken"]).version == 4
    assert (await api.get(f"/org/{PAYMENTS}/integrations")).json() == {"github": body["id"]}
    state = await _state(admin)
    (added,) = [integration for integration in state["integrations"] if integration["id"] == body["id"]]
    assert (added["orgId"], added["groupId"], added["type"], added["brokerEnabled"], added["token"]) == (
        PAYMENTS,
        ACME,
        "github",
        True,
        body["brokerToken"],
    )
    issued = state["issuedTokens"][-1]
    assert (issued["token"], issued["kind"], issued["integrationId"], issued["orgId"], issued["origin"]) == (
        body["brokerToken"],
        "broker",
        body["id"],
        PAYMENTS,
        "api",
    )


async def test_an_added_brokered_integration_rotates_like_any_other(api: httpx.AsyncClient) -> None:
    added = (await api.post(f"/org/{PAYMENTS}/integrations", json=BROKERED_GITHUB)).json()
    url = f"/org/{PAYMENTS}/integrations/{added['id']}"

    provisioned = await api.post(url + "/authentication/provision-token")
    switched = await api.post(url + "/authentication/switch-token")

    assert provisioned.json()["id"] == added["id"]
    assert switched.status_code == 200


async def test_adding_an_integration_with_credentials_answers_only_its_id_and_issues_no_token(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    issued_before = len((await _state(admin))["issuedTokens"])

    response = await api.post(f"/org/{PAYMENTS}/integrations", json=GITHUB_WITH_CREDENTIALS)

    assert set(response.json()) == {"id"}
    state = await _state(admin)
    (added,) = [integration for integration in state["integrations"] if integration["id"] == response.json()["id"]]
    assert (added["brokerEnabled"], added["token"]) == (False, None)
    assert len(state["issuedTokens"]) == issued_before


async def test_adding_a_type_the_org_already_has_is_409_and_changes_nothing(
    api: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    before = await _state(admin)

    response = await api.post(f"/org/{PLATFORM}/integrations", json=BROKERED_GITHUB)

    _assert_v1_error(response, 409, "already has a github integration", GITHUB)
    after = await _state(admin)
    assert (after["integrations"], after["issuedTokens"]) == (before["integrations"], before["issuedTokens"])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"broker": {"enabled": True}}, "'type'"),
        ({"type": "githb", "broker": {"enabled": True}}, "Unknown integration type"),
        ({"type": "github"}, "credentials"),
        ({"type": "github", "broker": {"enabled": False}}, "credentials"),
        ({"type": "github", "broker": {"enabled": "yes"}}, "boolean 'enabled'"),
        ([BROKERED_GITHUB], "JSON object"),
    ],
    ids=[
        "no-type",
        "unknown-type",
        "neither-broker-nor-credentials",
        "unbrokered-without-credentials",
        "bad-broker",
        "array",
    ],
)
async def test_an_add_body_that_is_not_a_documented_shape_is_400(
    api: httpx.AsyncClient, body: Any, fragment: str
) -> None:
    response = await api.post(f"/org/{PAYMENTS}/integrations", json=body)

    _assert_v1_error(response, 400, fragment)
    assert (await api.get(f"/org/{PAYMENTS}/integrations")).json() == {}


async def test_adding_to_an_org_the_key_cannot_reach_is_403_and_to_an_unknown_org_404(
    payments_api: httpx.AsyncClient,
) -> None:
    _assert_v1_error(await payments_api.post(f"/org/{PLATFORM}/integrations", json=BROKERED_GITHUB), 403, PLATFORM)
    _assert_v1_error(await payments_api.post(f"/org/{MISSING}/integrations", json=BROKERED_GITHUB), 404, MISSING)


async def test_adding_without_a_usable_key_is_401(anonymous: httpx.AsyncClient) -> None:
    _assert_v1_error(await anonymous.post(f"/org/{PAYMENTS}/integrations", json=BROKERED_GITHUB), 401)


async def test_the_added_broker_token_never_reaches_the_logs(
    api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    token = (await api.post(f"/org/{PAYMENTS}/integrations", json=BROKERED_GITHUB)).json()["brokerToken"]
    await api.post(f"/org/{PAYMENTS}/integrations", json=BROKERED_GITHUB)  # the 409 names the integration only

    assert caplog.records, "the simulator logs each call at debug level"
    assert token not in caplog.text
    assert GROUP_KEY not in caplog.text


# Integration settings


async def test_a_new_integration_reports_the_documented_settings_with_their_defaults(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/org/{PLATFORM}/integrations/{GITHUB}/settings")

    assert response.status_code == 200
    assert response.json() == {
        "autoDepUpgradeEnabled": False,
        "autoDepUpgradeLimit": 2,
        "autoDepUpgradeMinAge": 21,
        "autoDepUpgradeIgnoredDependencies": [],
        "pullRequestTestEnabled": True,
        "pullRequestFailOnAnyVulns": False,
        "pullRequestFailOnlyForHighSeverity": True,
        "pullRequestAssignment": {"enabled": False, "type": "manual", "assignees": []},
        "autoRemediationPrs": {
            "backlogPrsEnabled": False,
            "backlogPrStrategy": "vuln",
            "freshPrsEnabled": True,
            "usePatchRemediation": False,
        },
        "dockerfileSCMEnabled": True,
    }


async def test_put_settings_merges_what_it_names_and_returns_every_setting(api: httpx.AsyncClient) -> None:
    url = f"/org/{PLATFORM}/integrations/{GITHUB}/settings"
    before = (await api.get(url)).json()
    change = {
        "autoDepUpgradeEnabled": True,
        "autoDepUpgradeIgnoredDependencies": ["lodash"],
        "pullRequestAssignment": {"enabled": True, "assignees": ["octocat"]},
        "dockerfileSCMEnabled": False,
    }

    response = await api.put(url, json=change)

    expected = {
        **before,
        **change,
        "pullRequestAssignment": {"enabled": True, "type": "manual", "assignees": ["octocat"]},
    }
    assert response.status_code == 200, response.text
    assert response.json() == expected
    assert (await api.get(url)).json() == expected


async def test_settings_are_kept_per_integration(api: httpx.AsyncClient) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}/settings", json={"pullRequestTestEnabled": False})

    gitlab = (await api.get(f"/org/{PLATFORM}/integrations/{GITLAB}/settings")).json()

    assert gitlab["pullRequestTestEnabled"] is True


async def test_a_clone_copies_the_settings(api: httpx.AsyncClient) -> None:
    await api.put(f"/org/{PLATFORM}/integrations/{GITHUB}/settings", json={"autoDepUpgradeLimit": 7})
    cloned = await api.post(f"/org/{PLATFORM}/integrations/{GITHUB}/clone", json={"destinationOrgPublicId": PAYMENTS})

    settings = (await api.get(f"/org/{PAYMENTS}/integrations/{cloned.json()['newIntegrationId']}/settings")).json()

    assert settings["autoDepUpgradeLimit"] == 7


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        ({"autoDepUpgradeEnabled": "true"}, ("autoDepUpgradeEnabled", "boolean")),
        ({"pullRequestTestEnabld": True}, ("pullRequestTestEnabld",)),
        ({"autoRemediationPrs": {"backlogPrStrategy": "newest"}}, ("autoRemediationPrs.backlogPrStrategy",)),
        ({"autoDepUpgradeLimit": None}, ("null", "autoDepUpgradeLimit")),
        (["autoDepUpgradeEnabled"], ("JSON object",)),
    ],
    ids=["mistyped", "unknown", "bad-enum", "null", "array"],
)
async def test_put_settings_refuses_what_snyk_does_not_document_and_changes_nothing(
    api: httpx.AsyncClient, body: Any, fragments: tuple[str, ...]
) -> None:
    url = f"/org/{PLATFORM}/integrations/{GITHUB}/settings"
    before = (await api.get(url)).json()

    response = await api.put(url, json=body)

    _assert_v1_error(response, 400, *fragments)
    assert (await api.get(url)).json() == before


async def test_settings_of_an_integration_in_another_org_or_unknown_are_404(api: httpx.AsyncClient) -> None:
    _assert_v1_error(await api.get(f"/org/{PAYMENTS}/integrations/{GITHUB}/settings"), 404, GITHUB, PAYMENTS)
    _assert_v1_error(await api.put(f"/org/{PLATFORM}/integrations/{MISSING}/settings", json={}), 404, MISSING)
    _assert_v1_error(await api.get(f"/org/{MISSING}/integrations/{GITHUB}/settings"), 404, "Org", MISSING)


async def test_settings_of_an_org_the_key_cannot_reach_are_403(payments_api: httpx.AsyncClient) -> None:
    url = f"/org/{PLATFORM}/integrations/{GITHUB}/settings"

    _assert_v1_error(await payments_api.get(url), 403, PLATFORM)
    _assert_v1_error(await payments_api.put(url, json={"autoDepUpgradeEnabled": True}), 403, PLATFORM)


async def test_settings_without_a_usable_key_are_401(anonymous: httpx.AsyncClient) -> None:
    url = f"/org/{PLATFORM}/integrations/{GITHUB}/settings"

    _assert_v1_error(await anonymous.get(url), 401)
    _assert_v1_error(await anonymous.put(url, json={"autoDepUpgradeEnabled": True}), 401)


# Fault rules and the call log cover the new endpoints


NEW_ENDPOINTS = [
    ("list_orgs", "GET", "/orgs", None),
    ("add_integration", "POST", f"/org/{PAYMENTS}/integrations", BROKERED_GITHUB),
    ("get_integration_settings", "GET", f"/org/{PLATFORM}/integrations/{GITHUB}/settings", None),
    ("update_integration_settings", "PUT", f"/org/{PLATFORM}/integrations/{GITHUB}/settings", {}),
]


@pytest.mark.parametrize(("endpoint", "method", "path", "body"), NEW_ENDPOINTS, ids=[row[0] for row in NEW_ENDPOINTS])
async def test_a_fault_rule_names_the_new_endpoint_and_the_call_log_records_it(
    api: httpx.AsyncClient, admin: httpx.AsyncClient, endpoint: str, method: str, path: str, body: Any
) -> None:
    rule = await admin.post("/faults", json={"endpoint": endpoint, "errorRate": 1.0, "errorStatus": 503, "count": 1})
    assert rule.status_code == 200, rule.text

    faulted = await api.request(method, path, json=body)
    served = await api.request(method, path, json=body)

    _assert_v1_error(faulted, 503, "fault injection")
    assert served.status_code == 200, served.text
    calls = (await _state(admin))["calls"]
    fingerprint = "sha256:" + hashlib.sha256(GROUP_KEY.encode()).hexdigest()[:12]
    assert [(call["endpoint"], call["method"], call["path"], call["status"], call["fault"]) for call in calls] == [
        (endpoint, method, "/v1" + path, 503, "error"),
        (endpoint, method, "/v1" + path, 200, None),
    ]
    assert {call["keyFingerprint"] for call in calls} == {fingerprint}
