"""The reason vocabulary is one list: the enums are the code's, and docs/api.md shows exactly those members."""

from __future__ import annotations

import re
from pathlib import Path

from snyk_broker_operator.models.enums import ConditionReason, EventReason

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


def _documented_condition_reasons() -> set[str]:
    text = API_DOC.read_text(encoding="utf-8")
    table = text[text.index("| Conditions | Reasons |") :].split("\n\n", 1)[0]
    return {name for row in table.splitlines()[2:] for name in re.findall(r"`([A-Za-z]+)`", row.split("|")[2])}


def _documented_event_reasons() -> set[str]:
    text = API_DOC.read_text(encoding="utf-8")
    paragraph = text[text.index("Events have reasons of their own:") :].split("; a stall", 1)[0]
    return set(re.findall(r"`([A-Za-z]+)`", paragraph))


def test_the_api_doc_lists_every_condition_reason_and_no_other() -> None:
    assert _documented_condition_reasons() == {reason.value for reason in ConditionReason}


def test_the_api_doc_lists_every_event_reason_and_no_other() -> None:
    assert _documented_event_reasons() == {reason.value for reason in EventReason}


def test_no_reason_is_both_a_condition_reason_and_an_event_reason() -> None:
    # A stall's event uses its condition reason; the event enum must not shadow one of those with another meaning.
    assert not {r.value for r in ConditionReason} & {r.value for r in EventReason}
