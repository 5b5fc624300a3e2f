"""The next custody record after each step that changes it: the revision it gets and what carries over."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import SecretStr

from snyk_broker_operator.reconcile import custody
from snyk_broker_operator.reconcile.observed import Custody
from support.reconcile_builders import CLONE, INTEGRATION, NEW_TOKEN, NOW, OTHER_ORG, THIRD_ORG, TOKEN
from support.reconcile_builders import custody as custody_of

OTHER_INTEGRATION = "66666666-6666-4666-8666-666666666666"
THEIRS = "77777777-7777-4777-8777-777777777777"
NEW_ORG = "88888888-8888-4888-8888-888888888888"
NEW_CLONE = "99999999-9999-4999-8999-999999999999"
ORIGIN = "org/o/integration/type:github"
SHARED = custody_of(revision=3, clones={OTHER_ORG: CLONE}, conflicts={THIRD_ORG: THEIRS}, last_rotate_request="r0")


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def enable(previous: Custody | None, *, integration_id: str = INTEGRATION, request: str | None = None) -> Custody:
    return custody.after_enable(
        previous,
        token=NEW_TOKEN,
        origin=ORIGIN,
        integration_id=integration_id,
        integration_type="github",
        now=NOW,
        rotate_request=request,
    )


@pytest.mark.parametrize(
    ("previous", "integration_id", "revision", "clones", "conflicts"),
    [
        (None, INTEGRATION, 1, {}, {}),
        (custody_of(revision=0), INTEGRATION, 1, {}, {}),
        (SHARED, INTEGRATION, 3, {OTHER_ORG: CLONE}, {THIRD_ORG: THEIRS}),
        (SHARED, OTHER_INTEGRATION, 3, {}, {}),
    ],
    ids=[
        "the first token starts at revision one with nothing shared",
        "a record at revision zero (no revision recorded) becomes revision one",
        "enabling the same integration again keeps the revision, its clones and its conflicts",
        "another integration keeps the revision but drops the clones and conflicts of the old one",
    ],
)
def test_after_enable(
    previous: Custody | None,
    integration_id: str,
    revision: int,
    clones: dict[str, str],
    conflicts: dict[str, str],
) -> None:
    after = enable(previous, integration_id=integration_id, request="r1")
    assert (after.revision, dict(after.clones), dict(after.conflicts)) == (revision, clones, conflicts)
    assert secret(after.token) == NEW_TOKEN.get_secret_value()
    assert (after.origin, after.integration_id, after.integration_type) == (ORIGIN, integration_id, "github")
    assert after.issued_at == NOW
    assert after.last_rotate_request == "r1"


def test_a_rotate_request_already_present_when_the_token_is_first_obtained_is_recorded_as_handled() -> None:
    assert enable(None, request="2026-11-29T11:00:00Z").last_rotate_request == "2026-11-29T11:00:00Z"
    assert enable(SHARED, request=None).last_rotate_request is None


@pytest.mark.parametrize(
    ("previous", "revision"),
    [(None, 1), (custody_of(revision=1), 2), (SHARED, 4)],
    ids=[
        "the first adopted token is revision one",
        "adopting a changed token bumps the revision",
        "adoption bumps the revision even of a record that was shared",
    ],
)
def test_after_adopt(previous: Custody | None, revision: int) -> None:
    after = custody.after_adopt(previous, token=NEW_TOKEN, origin="secret/given/token", now=NOW, rotate_request="r2")
    assert after == Custody(
        token=after.token,
        origin="secret/given/token",
        integration_id=None,
        integration_type=None,
        issued_at=NOW,
        revision=revision,
        clones={},
        conflicts={},
        last_rotate_request="r2",
    )
    assert secret(after.token) == NEW_TOKEN.get_secret_value()


def test_promoting_a_provisional_token_bumps_the_revision_once_and_keeps_the_rest() -> None:
    later = NOW + timedelta(minutes=1)
    promoted = custody.after_promote(SHARED, provisional=NEW_TOKEN, now=later)
    assert secret(promoted.token) == NEW_TOKEN.get_secret_value()
    assert (promoted.revision, promoted.issued_at) == (4, later)
    kept = ("origin", "integration_id", "integration_type", "clones", "conflicts", "last_rotate_request")
    assert {name: getattr(promoted, name) for name in kept} == {name: getattr(SHARED, name) for name in kept}
    assert secret(SHARED.token) == TOKEN.get_secret_value(), "the previous record is left as it was"


def test_promoting_again_after_a_crash_finds_the_token_in_custody_and_changes_nothing() -> None:
    promoted = custody.after_promote(SHARED, provisional=NEW_TOKEN, now=NOW)
    # A different SecretStr object holding the same value: compared by value, not by identity.
    again = custody.after_promote(promoted, provisional=SecretStr(NEW_TOKEN.get_secret_value()), now=NOW + timedelta(1))
    assert again is promoted
    assert again.revision == SHARED.revision + 1


@pytest.mark.parametrize(
    ("record", "field", "org_id", "integration_id", "expected"),
    [
        (custody.with_clone, "clones", OTHER_ORG, CLONE, {OTHER_ORG: CLONE}),
        (custody.with_clone, "clones", NEW_ORG, NEW_CLONE, {OTHER_ORG: CLONE, NEW_ORG: NEW_CLONE}),
        (custody.with_conflict, "conflicts", OTHER_ORG, THEIRS, {THIRD_ORG: THEIRS, OTHER_ORG: THEIRS}),
        (custody.with_conflict, "conflicts", THIRD_ORG, CLONE, {THIRD_ORG: CLONE}),
    ],
    ids=[
        "recording a clone of an org already recorded keeps one entry",
        "recording a clone into a new org adds it to the others",
        "recording a conflict adds it to the others",
        "recording a conflict again for an org replaces its integration id",
    ],
)
def test_a_share_is_added_to_what_custody_already_records(
    record: Callable[..., Custody], field: str, org_id: str, integration_id: str, expected: dict[str, str]
) -> None:
    before = dict(getattr(SHARED, field))
    after = record(SHARED, org_id=org_id, integration_id=integration_id)
    assert dict(getattr(after, field)) == expected
    assert (after.token, after.revision) == (SHARED.token, SHARED.revision)
    assert dict(getattr(SHARED, field)) == before, "the previous record is left as it was"


def test_a_clone_leaves_the_conflicts_and_a_conflict_leaves_the_clones() -> None:
    assert custody.with_clone(SHARED, org_id="o", integration_id="i").conflicts == SHARED.conflicts
    assert custody.with_conflict(SHARED, org_id="o", integration_id="i").clones == SHARED.clones


@pytest.mark.parametrize(
    ("request_value", "recorded"),
    [(None, "r0"), ("r1", "r1"), ("r0", "r0")],
    ids=[
        "no request keeps the very same record",
        "a new request is recorded as handled",
        "the request already handled is recorded again unchanged",
    ],
)
def test_with_rotate_request(request_value: str | None, recorded: str) -> None:
    after = custody.with_rotate_request(SHARED, request_value)
    assert after.last_rotate_request == recorded
    if request_value is None:
        assert after is SHARED
    assert (after.token, after.revision, after.clones) == (SHARED.token, SHARED.revision, SHARED.clones)


def test_a_clone_started_is_recorded_and_ends_with_its_clone_or_its_conflict() -> None:
    started = custody.with_clone_started(SHARED, org_id=NEW_ORG)
    assert started.clones_started == {NEW_ORG} and started.clones == SHARED.clones
    assert custody.with_clone(started, org_id=NEW_ORG, integration_id=NEW_CLONE).clones_started == frozenset()
    assert custody.with_conflict(started, org_id=NEW_ORG, integration_id=THEIRS).clones_started == frozenset()
    assert custody.without_clone_started(started, org_id=NEW_ORG) == SHARED


def test_a_clone_started_carries_over_a_repeated_enable_of_the_same_integration_only() -> None:
    started = custody.with_clone_started(SHARED, org_id=NEW_ORG)
    again = custody.after_enable(
        started,
        token=TOKEN,
        origin="o",
        integration_id=INTEGRATION,
        integration_type="github",
        now=NOW,
        rotate_request=None,
    )
    other = custody.after_enable(
        started,
        token=TOKEN,
        origin="o",
        integration_id=OTHER_INTEGRATION,
        integration_type="github",
        now=NOW,
        rotate_request=None,
    )
    assert (again.clones_started, other.clones_started) == (frozenset({NEW_ORG}), frozenset())
