"""Blob store layouts: new stores are flat (<k[0:2]>/<k>); a store that already holds files in
two levels (<k[0:2]>/<k[2:4]>/<k>) keeps them; ``<root>/.layout`` records which."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from app import StartupError, create_app
from app.blobs import LAYOUT_FILE, FileSystemBlobStore


def _key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_new_store_is_flat(tmp_path: Path) -> None:
    store = FileSystemBlobStore(tmp_path / "blobs", fsync=True)
    assert (tmp_path / "blobs" / LAYOUT_FILE).read_text() == "2\n"
    key = store.put_bytes(b"flat")
    assert (tmp_path / "blobs" / key[:2] / key).read_bytes() == b"flat"
    assert list(store.keys()) == [key]
    again = FileSystemBlobStore(tmp_path / "blobs", fsync=True)  # a restart reads the marker
    with again.open(key) as handle:
        assert handle.read() == b"flat"


def test_store_with_two_level_files_keeps_its_layout(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    old = _key(b"old")
    (root / old[:2] / old[2:4]).mkdir(parents=True)
    (root / old[:2] / old[2:4] / old).write_bytes(b"old")
    store = FileSystemBlobStore(root, fsync=False)
    assert (root / LAYOUT_FILE).read_text() == "1\n"
    with store.open(old) as handle:
        assert handle.read() == b"old"
    new = store.put_bytes(b"new")
    assert (root / new[:2] / new[2:4] / new).read_bytes() == b"new"
    assert sorted(store.keys()) == sorted([old, new])
    assert store.quarantine(new)  # the quarantine is flat whatever the layout
    assert list(store.keys()) == [old] and [k for k, _ in store.quarantined()] == [new]
    assert store.restore_quarantined(new)
    assert (root / new[:2] / new[2:4] / new).read_bytes() == b"new"


def test_marker_decides_even_for_an_empty_store(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.mkdir()
    (root / LAYOUT_FILE).write_text("1\n")
    store = FileSystemBlobStore(root, fsync=False)
    key = store.put_bytes(b"x")
    assert (root / key[:2] / key[2:4] / key).exists()


def test_unknown_layout_refuses_to_start(tmp_path: Path) -> None:
    root = tmp_path / "data" / "blobs"
    root.mkdir(parents=True)
    (root / LAYOUT_FILE).write_text("7\n")
    with pytest.raises(ValueError):
        FileSystemBlobStore(root)
    with pytest.raises(StartupError, match="unknown blob store layout"):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path / "data"),
                    "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
                    "BLOB_STORE_PATH": str(root), "SWEEP_BLOBS_AT_STARTUP": False,
                    "ENABLE_BACKGROUND_WORKER": False})
