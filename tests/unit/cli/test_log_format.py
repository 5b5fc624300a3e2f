"""`--log-format json` writes one JSON object a line, with the object a line is about; text stays the default."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from snyk_broker_operator import logs


def _record(message: str, *, extra: dict[str, object] | None = None, exc: bool = False) -> logging.LogRecord:
    logger = logging.getLogger("snyk_broker_operator.test")
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    record = logger.makeRecord(logger.name, logging.INFO, __file__, 1, message, (), exc_info, extra=extra)
    return record


def test_a_line_about_an_object_carries_its_kind_namespace_name_and_uid() -> None:
    ref = logs.object_ref("BrokerToken", "team-a", "github", "uid-1")

    line = json.loads(logs.JsonFormatter().format(_record("reconcile pass done", extra=ref)))

    assert line["message"] == "reconcile pass done" and line["level"] == "info"
    assert (line["kind"], line["namespace"], line["name"], line["uid"]) == ("BrokerToken", "team-a", "github", "uid-1")
    assert line["time"].endswith("+00:00") and line["logger"] == "snyk_broker_operator.test"


def test_a_line_about_no_object_has_no_object_fields_and_an_exception_is_one_field() -> None:
    line = json.loads(logs.JsonFormatter().format(_record("starting", exc=True)))

    assert not {"kind", "namespace", "name", "uid"} & set(line)
    assert "ValueError: boom" in line["exception"] and "\n" not in json.dumps(line)


@pytest.mark.parametrize(("log_format", "json_lines"), [("json", True), ("text", False)], ids=["json", "text"])
def test_configure_installs_one_handler_with_the_chosen_format(log_format: str, json_lines: bool) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        logs.configure(level=logging.DEBUG, log_format=log_format)
        (handler,) = root.handlers
        assert isinstance(handler.formatter, logs.JsonFormatter) is json_lines
        assert root.level == logging.DEBUG
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
