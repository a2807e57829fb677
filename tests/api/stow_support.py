"""Shared helpers of the STOW tests: response parsing, index and blob-store inspection."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from app.api.edge import get_database
from app.blobs import IDENTITY_FILE, LAYOUT_FILE
from tests.api.helpers import values

REFERENCED = "00081199"
FAILED = "00081198"
RETRIEVE_URL = "00081190"
SOP_CLASS = "00081150"
SOP_INSTANCE = "00081155"
FAILURE_REASON = "00081197"
WARNING_REASON = "00081196"
FAILED_ATTRIBUTES = "00741048"
ERROR_COMMENT = "00000902"


def referenced(body: dict[str, Any]) -> list[dict[str, Any]]:
    return values(body, REFERENCED)


def failed(body: dict[str, Any]) -> list[dict[str, Any]]:
    return values(body, FAILED)


def failure_reasons(body: dict[str, Any]) -> list[int]:
    return [values(item, FAILURE_REASON)[0] for item in failed(body)]


def comments(item: dict[str, Any]) -> list[str]:
    return [values(entry, ERROR_COMMENT)[0] for entry in values(item, FAILED_ATTRIBUTES)]


def rows(app: Any, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    with get_database(app).connection() as conn:
        return [dict(row) for row in conn.fetchall(sql, params)]


def count(app: Any, table: str) -> int:
    return int(list(rows(app, f"SELECT COUNT(*) AS n FROM {table}")[0].values())[0])


def blob_root(app: Any) -> Path:
    return Path(app.config["BLOB_STORE_PATH"])


def blob_files(app: Any) -> list[Path]:
    """Stored (content-addressed) files, excluding the temporary directory."""
    root = blob_root(app)
    return [p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.relative_to(root).parts
            and p.name not in (LAYOUT_FILE, IDENTITY_FILE)]


def blob_keys(app: Any) -> list[str]:
    """The keys of the stored blobs, on either blob store backend."""
    return sorted(app.extensions["dicom_blobs"].keys())


def blob_bytes(app: Any, key: str) -> bytes:
    with app.extensions["dicom_blobs"].open(key) as handle:
        return handle.read()


def temp_files(app: Any) -> list[Path]:
    return [p for p in (blob_root(app) / ".tmp").iterdir()]
