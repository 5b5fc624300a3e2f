"""How the operator's log lines look: readable text by default, or one JSON object a line (`--log-format json`)
for log stacks to index, with the object's kind, namespace, name and uid where a line is about one.

A line is about an object when it carries `k8s_ref` (Kopf's per-object loggers add it; the engine passes it as
`extra`). Tokens never reach a log line in either format: past the Snyk adapter they are `SecretStr`.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
FORMATS = ("text", "json")


def object_ref(kind: str, namespace: str | None, name: str, uid: str | None = None) -> dict[str, Any]:
    """The `extra` that ties a log line to one object."""
    return {"k8s_ref": {"kind": kind, "namespace": namespace, "name": name, "uid": uid}}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and kind/namespace/name/uid when known."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        ref = getattr(record, "k8s_ref", None)
        if isinstance(ref, dict):
            line.update({key: ref[key] for key in ("kind", "namespace", "name", "uid") if ref.get(key)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(*, level: int, log_format: str) -> None:
    """Send every log line to stderr in the chosen format (the process's only log output)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
