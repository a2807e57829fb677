"""The audit log: one JSON line per request on the ``dicom.audit`` logger (no Flask).

A line holds when, who (the token's ``oid`` or ``sub``), from where, what (method, route
pattern, partition, study UID, data action) and the status. Never the query string or a body:
no patient data beyond UIDs.
"""
from __future__ import annotations

import json
import logging
import logging.handlers
import os
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

logger = logging.getLogger("dicom.audit")


@dataclass(frozen=True)
class AuditRecord:
    subject: str | None
    client: str | None
    method: str
    route: str | None
    partition: str | None
    study: str | None
    action: str
    status: int


def configure(path: str | None) -> None:
    """Write audit lines to ``path`` (only) when given; else they go to the server log. The
    logger is the process's: a second app configured in the same process (tests) takes it over."""
    logger.setLevel(logging.INFO)
    for handler in list(logger.handlers):
        if getattr(handler, "baseFilename", None) == (os.path.abspath(path) if path else None):
            return
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = not path
    if path:
        handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def write(record: AuditRecord) -> None:
    if not logger.isEnabledFor(logging.INFO):
        return
    line = {"time": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            **asdict(record)}
    logger.info(json.dumps(line, separators=(",", ":")))
