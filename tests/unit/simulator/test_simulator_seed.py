"""Seed files: the shipped seeds load, and every kind of mistake is refused with a message naming where."""

from __future__ import annotations

import copy
import uuid
from pathlib import Path
from typing import Any

import pytest

from snyk_broker_operator.simulator import seed

GROUP = "11111111-1111-4111-8111-111111111111"
ORG_A = "22222222-2222-4222-8222-222222222222"
ORG_B = "33333333-3333-4333-8333-333333333333"
INTEGRATION = "44444444-4444-4444-8444-444444444444"
TOKEN = "55555555-5555-4555-8555-555555555555"

VALID: dict[str, Any] = {
    "rateLimitPerMinute": 100,
    "groups": [
        {
            "id": GROUP,
            "name": "acme",
            "orgs": [
                {"id": ORG_A, "name": "a", "integrations": [{"id": INTEGRATION, "type": "github"}]},
                {"id": ORG_B, "name": "b"},
            ],
        }
    ],
    "apiKeys": [{"key": "group-key", "group": GROUP}, {"key": "org-key", "orgs": [ORG_B]}],
}


def _with(**changes: Any) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    document.update(changes)
    return document


def _integrations(*integrations: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    document["groups"][0]["orgs"][0]["integrations"] = list(integrations)
    return document


def _integration(**fields: Any) -> dict[str, Any]:
    return _integrations({"id": INTEGRATION, "type": "github", **fields})


def test_a_valid_document_parses_into_the_typed_model() -> None:
    parsed = seed.parse_seed(VALID)

    assert parsed.rate_limit_per_minute == 100
    assert [org.name for org in parsed.groups[0].orgs] == ["a", "b"]
    assert parsed.groups[0].orgs[0].integrations[0].is_brokered is False
    assert parsed.api_keys[1].orgs is not None and str(parsed.api_keys[1].orgs[0]) == ORG_B


def test_the_rate_limit_defaults_to_snyks_documented_2000_per_minute() -> None:
    assert seed.parse_seed({}).rate_limit_per_minute == 2000


def test_a_broker_token_implies_the_integration_is_brokered() -> None:
    parsed = seed.parse_seed(_integration(brokerToken=TOKEN))

    assert parsed.groups[0].orgs[0].integrations[0].is_brokered is True


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            _integration(brokerToken=TOKEN, brokerEnabled=False), "implies brokerEnabled", id="token-but-disabled"
        ),
        pytest.param(_integration(type="githb"), "unknown integration type 'githb'", id="typo-in-type"),
        pytest.param(_integration(colour="blue"), "groups[0].orgs[0].integrations[0].colour", id="unknown-field"),
        pytest.param(_with(groups=[{"id": "not-a-uuid", "name": "x"}]), "groups[0].id", id="bad-uuid"),
        pytest.param(_with(rateLimitPerMinute=0), "rateLimitPerMinute", id="zero-rate-limit"),
        pytest.param(_with(apiKeys=[{"key": "k"}]), "exactly one of 'group' or 'orgs'", id="key-without-scope"),
        pytest.param(
            _with(apiKeys=[{"key": "k", "group": GROUP, "orgs": [ORG_A]}]),
            "exactly one of 'group' or 'orgs'",
            id="key-with-both-scopes",
        ),
        pytest.param(_with(apiKeys=[{"key": "k", "group": TOKEN}]), "apiKeys[0].group", id="key-for-an-unknown-group"),
        pytest.param(_with(apiKeys=[{"key": "k", "orgs": [TOKEN]}]), "apiKeys[0].orgs", id="key-for-an-unknown-org"),
        pytest.param(
            _with(apiKeys=[{"key": "k", "group": GROUP}, {"key": "k", "group": GROUP}]),
            "listed more than once",
            id="duplicate-key",
        ),
        pytest.param(
            _with(groups=[{"id": GROUP, "name": "x", "orgs": [{"id": GROUP, "name": "y"}]}], apiKeys=[]),
            f"id {GROUP} is used by both",
            id="duplicate-id",
        ),
        pytest.param(
            _integrations({"id": INTEGRATION, "type": "github"}, {"id": TOKEN, "type": "github"}),
            "more than one 'github' integration",
            id="two-integrations-of-one-type",
        ),
    ],
)
def test_a_bad_seed_is_refused_with_a_message_saying_where(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(seed.SeedError) as caught:
        seed.parse_seed(document)

    assert expected in str(caught.value)


def test_a_seed_error_never_echoes_an_api_key() -> None:
    document = _with(apiKeys=[{"key": "super-secret-key", "group": GROUP, "orgs": [ORG_A]}])

    with pytest.raises(seed.SeedError) as caught:
        seed.parse_seed(document)

    assert "super-secret-key" not in str(caught.value)


def test_the_repr_of_a_seed_hides_keys_and_tokens() -> None:
    parsed = seed.parse_seed(_integration(brokerToken=TOKEN))

    assert "group-key" not in repr(parsed)
    assert TOKEN not in repr(parsed)


def test_a_top_level_list_is_not_a_seed() -> None:
    with pytest.raises(seed.SeedError, match="mapping"):
        seed.parse_seed([1, 2])  # type: ignore[arg-type]


def test_load_seed_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(seed.SeedError, match="cannot read seed file"):
        seed.load_seed(tmp_path / "absent.yaml")


def test_load_seed_reports_invalid_yaml_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("groups: [unclosed\n", encoding="utf-8")

    with pytest.raises(seed.SeedError, match=r"broken\.yaml is not valid YAML"):
        seed.load_seed(path)


def test_load_seed_prefixes_validation_errors_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text("rateLimitPerMinit: 5\n", encoding="utf-8")

    with pytest.raises(seed.SeedError, match=r"(?s)typo\.yaml.*rateLimitPerMinit: unknown field"):
        seed.load_seed(path)


def test_an_empty_file_is_an_empty_world(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")

    assert seed.load_seed(path).groups == ()


def test_the_shipped_example_seed_is_valid() -> None:
    parsed = seed.load_seed(seed.shipped_seed_path())

    assert len(parsed.groups) == 2
    assert len(parsed.api_keys) == 3


def test_the_demo_seed_has_the_three_orgs_the_demo_relies_on() -> None:
    parsed = seed.load_seed(seed.shipped_seed_path(seed.DEMO_SEED_NAME))

    (group,) = parsed.groups
    orgs = {org.name: org for org in group.orgs}
    assert list(orgs) == ["platform", "team-a", "team-b"]
    platform_types = {integration.type: integration for integration in orgs["platform"].integrations}
    assert set(platform_types) == {"github", "gitlab"}
    assert platform_types["github"].is_brokered is False
    assert orgs["team-a"].integrations == () and orgs["team-b"].integrations == ()
    (demo_key,) = parsed.api_keys
    assert demo_key.key == "demo-api-key-0000"
    assert demo_key.group == group.id


def _orgs(*orgs: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(VALID)
    document["groups"][0]["orgs"] = list(orgs)
    document["apiKeys"] = []
    return document


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        # The pairs in Snyk's documented GET /orgs and GET /group/{groupId}/orgs examples.
        ("My Other Org", "my-other-org"),
        ("defaultOrg", "default-org"),
        ("myDefaultOrg", "my-default-org"),
        ("platform", "platform"),
        ("team-a", "team-a"),
        ("ACME Inc.", "acme-inc"),
        ("HTTPServer v2", "http-server-v2"),
        ("Équipe  Sécurité", "equipe-securite"),
    ],
)
def test_a_slug_is_derived_from_the_org_name_in_kebab_case(name: str, slug: str) -> None:
    assert seed.derive_slug(name, uuid.UUID(ORG_A)) == slug


def test_a_name_without_letters_or_digits_gets_a_slug_from_the_org_id() -> None:
    assert seed.derive_slug("???", uuid.UUID(ORG_A)) == "org-22222222"


def test_a_derived_slug_is_at_most_100_characters() -> None:
    slug = seed.derive_slug("word " * 40, uuid.UUID(ORG_A))

    assert len(slug) <= seed.SLUG_MAX_LENGTH
    assert not slug.endswith("-")


def test_an_org_uses_its_seeded_slug_and_otherwise_a_derived_one() -> None:
    parsed = seed.parse_seed(_orgs({"id": ORG_A, "name": "Team A", "slug": "squad.a"}, {"id": ORG_B, "name": "Team B"}))

    assert parsed.org_slugs() == {uuid.UUID(ORG_A): "squad.a", uuid.UUID(ORG_B): "team-b"}


def test_orgs_of_one_name_still_load_and_the_later_ones_slug_carries_its_id() -> None:
    parsed = seed.parse_seed(_orgs({"id": ORG_A, "name": "Team A"}, {"id": ORG_B, "name": "team-a"}))

    assert parsed.org_slugs() == {uuid.UUID(ORG_A): "team-a", uuid.UUID(ORG_B): f"team-a-{uuid.UUID(ORG_B).hex}"}


def test_a_given_slug_wins_over_a_derived_one_that_would_equal_it() -> None:
    parsed = seed.parse_seed(_orgs({"id": ORG_A, "name": "b"}, {"id": ORG_B, "name": "x", "slug": "b"}))

    assert parsed.org_slugs() == {uuid.UUID(ORG_A): f"b-{uuid.UUID(ORG_A).hex}", uuid.UUID(ORG_B): "b"}


def test_a_disambiguated_slug_is_at_most_100_characters() -> None:
    long_name = "word " * 40
    parsed = seed.parse_seed(_orgs({"id": ORG_A, "name": long_name}, {"id": ORG_B, "name": long_name}))

    second = parsed.org_slugs()[uuid.UUID(ORG_B)]
    assert len(second) <= seed.SLUG_MAX_LENGTH
    assert second.endswith("-" + uuid.UUID(ORG_B).hex)
    assert "--" not in second


def test_an_api_key_may_carry_an_email() -> None:
    parsed = seed.parse_seed(_with(apiKeys=[{"key": "k", "group": GROUP, "email": "ci@acme.example"}]))

    assert parsed.api_keys[0].email == "ci@acme.example"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(_orgs({"id": ORG_A, "name": "a", "slug": "has space"}), "groups[0].orgs[0].slug", id="bad-slug"),
        pytest.param(_orgs({"id": ORG_A, "name": "a", "slug": "x" * 101}), "groups[0].orgs[0].slug", id="long-slug"),
        pytest.param(
            _orgs({"id": ORG_A, "name": "a", "slug": "same"}, {"id": ORG_B, "name": "b", "slug": "same"}),
            "orgs 'a' and 'b' have the same slug 'same'",
            id="two-given-slugs-clash",
        ),
        pytest.param(
            _with(apiKeys=[{"key": "k", "group": GROUP, "email": "not an email"}]), "apiKeys[0].email", id="bad-email"
        ),
    ],
)
def test_a_bad_slug_or_email_is_refused_with_a_message_saying_where(document: dict[str, Any], expected: str) -> None:
    with pytest.raises(seed.SeedError) as caught:
        seed.parse_seed(document)

    assert expected in str(caught.value)
