"""Integration settings as pure logic: the defaults, which PUT bodies are accepted, and how a change is merged."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import pytest

from snyk_broker_operator.simulator import errors, integration_settings


def test_each_call_gets_its_own_copy_of_the_defaults() -> None:
    first = integration_settings.default_settings()
    first["pullRequestAssignment"]["assignees"].append("someone")
    first["autoDepUpgradeEnabled"] = True

    second = integration_settings.default_settings()

    assert second["pullRequestAssignment"]["assignees"] == []
    assert second["autoDepUpgradeEnabled"] is False


def test_the_defaults_are_a_valid_update_of_every_setting_served() -> None:
    defaults = integration_settings.default_settings()

    assert integration_settings.parse_update(defaults) == defaults


def test_an_update_keeps_only_the_settings_it_names_in_snyks_spelling() -> None:
    changes = integration_settings.parse_update(
        {"dockerfileSCMEnabled": False, "autoRemediationPrs": {"backlogPrStrategy": "dependency"}}
    )

    assert changes == {"dockerfileSCMEnabled": False, "autoRemediationPrs": {"backlogPrStrategy": "dependency"}}


def test_an_empty_update_changes_nothing() -> None:
    assert integration_settings.parse_update({}) == {}


@pytest.mark.parametrize(
    ("body", "fragments"),
    [
        pytest.param({"autoDepUpgradeEnabled": "true"}, ["autoDepUpgradeEnabled", "boolean"], id="string-for-bool"),
        pytest.param({"autoDepUpgradeLimit": 1.5}, ["autoDepUpgradeLimit", "integer"], id="float-for-int"),
        pytest.param(
            {"autoDepUpgradeMinAge": -1}, ["autoDepUpgradeMinAge", "greater than or equal to 0"], id="negative"
        ),
        pytest.param(
            {"autoDepUpgradeIgnoredDependencies": "lodash"}, ["autoDepUpgradeIgnoredDependencies"], id="not-list"
        ),
        pytest.param(
            {"pullRequestAssignment": {"assignees": [1]}}, ["pullRequestAssignment.assignees.0"], id="bad-item"
        ),
        pytest.param({"autoRemediationPrs": {"backlogPrStrategy": "newest"}}, ["'vuln' or 'dependency'"], id="enum"),
        pytest.param({"auto_dep_upgrade_enabled": True}, ["auto_dep_upgrade_enabled"], id="snake-case-name"),
        pytest.param({"dockerfileScmEnabled": True}, ["dockerfileScmEnabled"], id="scm-not-capitalised"),
        pytest.param({"pullRequestTestEnabled": None}, ["null", "pullRequestTestEnabled"], id="null"),
        pytest.param(
            {"pullRequestAssignment": {"type": None}}, ["pullRequestAssignment", "null", "type"], id="nested-null"
        ),
        pytest.param([], ["JSON object"], id="array"),
        pytest.param(None, ["JSON object"], id="no-body"),
    ],
)
def test_an_update_outside_the_documented_settings_is_a_bad_request_naming_the_field(
    body: Any, fragments: list[str]
) -> None:
    with pytest.raises(errors.V1Error) as caught:
        integration_settings.parse_update(body)

    assert caught.value.status == HTTPStatus.BAD_REQUEST
    for fragment in fragments:
        assert fragment in caught.value.message


def test_a_refusal_names_the_field_but_never_repeats_the_value_sent() -> None:
    with pytest.raises(errors.V1Error) as caught:
        integration_settings.parse_update({"pullRequestAssignment": {"enabled": "value-from-the-client"}})

    assert "value-from-the-client" not in caught.value.message


def test_merge_replaces_plain_values_and_lists_and_merges_nested_objects_field_by_field() -> None:
    current = {
        "autoDepUpgradeEnabled": False,
        "autoDepUpgradeIgnoredDependencies": ["a", "b"],
        "pullRequestAssignment": {"enabled": False, "type": "manual", "assignees": ["x"]},
    }

    merged = integration_settings.merge(
        current,
        {
            "autoDepUpgradeEnabled": True,
            "autoDepUpgradeIgnoredDependencies": ["c"],
            "pullRequestAssignment": {"enabled": True},
        },
    )

    assert merged == {
        "autoDepUpgradeEnabled": True,
        "autoDepUpgradeIgnoredDependencies": ["c"],
        "pullRequestAssignment": {"enabled": True, "type": "manual", "assignees": ["x"]},
    }


def test_merge_changes_neither_of_its_inputs_and_shares_nothing_with_them() -> None:
    current = {"pullRequestAssignment": {"enabled": False, "assignees": ["x"]}}
    changes = {"autoDepUpgradeIgnoredDependencies": ["c"]}

    merged = integration_settings.merge(current, changes)
    merged["pullRequestAssignment"]["assignees"].append("y")
    merged["autoDepUpgradeIgnoredDependencies"].append("d")

    assert current == {"pullRequestAssignment": {"enabled": False, "assignees": ["x"]}}
    assert changes == {"autoDepUpgradeIgnoredDependencies": ["c"]}
