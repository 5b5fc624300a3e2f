"""Integration settings: the documented subset each simulated integration stores, its defaults, and PUT merging.

Snyk's v1 ``GET|PUT /org/{orgId}/integrations/{integrationId}/settings`` carries the PR and upgrade settings of
one integration (https://docs.snyk.io/snyk-api/reference/integrations-v1, "Retrieve" and "Update"). The
simulator keeps them as plain JSON per integration: :func:`default_settings` for a new integration,
:func:`parse_update` to validate a PUT body, :func:`merge` to apply it. Pure: no HTTP, no world.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Literal

import pydantic
from pydantic.alias_generators import to_camel

from snyk_broker_operator.simulator import errors

JsonObject = dict[str, Any]

# What a new integration reports: the values of Snyk's documented Update example, except that PR assignment is
# off and has no assignees (the example assigns PRs to a placeholder user "username"). Snyk documents no defaults.
_DEFAULT_SETTINGS: JsonObject = {
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


def default_settings() -> JsonObject:
    """A fresh copy of the settings a new integration starts with (callers may mutate it)."""
    return copy.deepcopy(_DEFAULT_SETTINGS)


class _SettingsPart(pydantic.BaseModel):
    """A settings object: every field optional (an omitted one stays unset, so it is not changed), none null."""

    # extra="forbid": a misspelt setting is a 400 naming it, not a silent no-op. Strict types: "true" is not a bool.
    # Only Snyk's camelCase names are accepted (no populate_by_name), as only those reach Snyk.
    model_config = pydantic.ConfigDict(alias_generator=to_camel, extra="forbid", strict=True)

    @pydantic.model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        # The fields are optional only so that they can be left out; a stored null would break clients reading them.
        if isinstance(data, dict):
            nulls = sorted(str(name) for name, value in data.items() if value is None)
            if nulls:
                raise ValueError(f"null is not a value for {', '.join(nulls)}; leave a setting out to keep it")
        return data


class _PullRequestAssignment(_SettingsPart):
    enabled: bool | None = None
    # Snyk documents this as a string (its example: "manual") without listing the values, so any string is kept.
    type: str | None = None
    assignees: list[str] | None = None


class _AutoRemediationPrs(_SettingsPart):
    backlog_prs_enabled: bool | None = None
    backlog_pr_strategy: Literal["vuln", "dependency"] | None = None
    fresh_prs_enabled: bool | None = None
    use_patch_remediation: bool | None = None


class _SettingsUpdate(_SettingsPart):
    """The body of a settings PUT: any subset of the served settings."""

    auto_dep_upgrade_enabled: bool | None = None
    auto_dep_upgrade_limit: int | None = pydantic.Field(default=None, ge=0)
    auto_dep_upgrade_min_age: int | None = pydantic.Field(default=None, ge=0)
    auto_dep_upgrade_ignored_dependencies: list[str] | None = None
    pull_request_test_enabled: bool | None = None
    pull_request_fail_on_any_vulns: bool | None = None
    pull_request_fail_only_for_high_severity: bool | None = None
    pull_request_assignment: _PullRequestAssignment | None = None
    auto_remediation_prs: _AutoRemediationPrs | None = None
    # Snyk spells it with "SCM" in capitals, which the camel-case generator would not produce.
    dockerfile_scm_enabled: bool | None = pydantic.Field(default=None, alias="dockerfileSCMEnabled")


def parse_update(body: Any) -> JsonObject:
    """The settings a PUT body changes, in Snyk's spelling; a 400 naming every field that is unknown or mistyped."""
    if not isinstance(body, dict):
        raise errors.V1Error(HTTPStatus.BAD_REQUEST, "Request body must be a JSON object")
    try:
        update = _SettingsUpdate.model_validate(body)
    except pydantic.ValidationError as error:
        raise errors.V1Error(HTTPStatus.BAD_REQUEST, "Invalid integration settings: " + _describe(error)) from None
    changes: JsonObject = update.model_dump(by_alias=True, exclude_unset=True)
    return changes


def merge(current: Mapping[str, Any], changes: Mapping[str, Any]) -> JsonObject:
    """``current`` with ``changes`` applied: nested objects merge field by field, anything else is replaced.

    A setting a PUT leaves out keeps its value, also inside ``pullRequestAssignment`` and ``autoRemediationPrs``,
    so a client can flip one flag without restating the rest. Lists are values, so a new list replaces the old.
    """
    merged = copy.deepcopy(dict(current))
    for name, value in changes.items():
        existing = merged.get(name)
        if isinstance(value, Mapping) and isinstance(existing, Mapping):
            merged[name] = merge(existing, value)
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def _describe(error: pydantic.ValidationError) -> str:
    # include_input=False: the message names the field and the rule, never echoes what the client sent.
    return "; ".join(
        f"{'.'.join(str(part) for part in problem['loc']) or 'body'}: {problem['msg'].removeprefix('Value error, ')}"
        for problem in error.errors(include_url=False, include_input=False)
    )
