"""File blob store: content-addressed by SHA-256, atomic and durable writes (decisions §3).

Files live at ``<root>/<k[0:2]>/<k[2:4]>/<k>``. A write goes to a temporary file in
``<root>/.tmp``, is fsynced, then renamed into place (and the directory fsynced), so a file is
either absent or complete. The index decides when a file is unreferenced; the store only puts,
opens and deletes. ``BlobStore`` is the interface an object store would implement.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import BinaryIO, Callable, Iterable, Iterator

from flask import Flask, current_app

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
_KEY = re.compile(r"[0-9a-f]{64}")


class BlobStore:
    """Interface of a content-addressed blob store."""

    def spool(self, head_size: int = 0) -> "SpoolFile":
        """A temporary file to write an incoming blob to while hashing it (keeping its first
        ``head_size`` bytes in memory too)."""
        raise NotImplementedError

    def put(self, spool: "SpoolFile") -> bool:
        """Make the spooled bytes durable under their key; False if they were already present."""
        raise NotImplementedError

    def open(self, key: str) -> BinaryIO:
        raise NotImplementedError

    def exists(self, key: str) -> bool:
        raise NotImplementedError

    def size(self, key: str) -> int:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def check(self) -> None:
        """Raise if the store cannot be written and read."""
        raise NotImplementedError


class SpoolFile:
    """A temporary file that hashes what is written to it.

    With ``head_size``, the first bytes also stay in memory (``head``), so a DICOM header can
    be parsed without reading the file back.
    """

    def __init__(self, directory: str | Path, fsync: bool, head_size: int = 0) -> None:
        fd, name = tempfile.mkstemp(dir=directory, prefix="spool-")
        self.name = name
        self.file = open(fd, "wb", buffering=0)  # the writes are large: no buffer to copy to
        self._hash = hashlib.sha256()
        self.size = 0
        self._fsync = fsync
        self.closed = False
        self._head_size = head_size
        self.head = bytearray()

    def write(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        if len(self.head) < self._head_size:
            self.head += view[:self._head_size - len(self.head)]
        self._hash.update(view)
        self.size += len(view)
        while view:
            written = self.file.write(view)
            view = view[written:]

    @property
    def key(self) -> str:
        return self._hash.hexdigest()

    def finish(self) -> None:
        """Flush and close the written file (a request of thousands of parts must not hold
        thousands of descriptors); read it back with ``open()``. ``put`` makes it durable, so
        parts that are never stored (invalid, duplicate) cost no fsync."""
        if not self.closed:
            self.closed = True
            self.file.close()

    def open(self) -> BinaryIO:
        """A new read handle on the spooled bytes."""
        return open(self.name, "rb")

    def sync(self) -> None:
        """fsync the data (when the store is configured to)."""
        if self._fsync:
            fd = os.open(self.name, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def discard(self) -> None:
        """Close and remove the temporary file (idempotent)."""
        if not self.closed:
            self.closed = True
            self.file.close()
        try:
            os.unlink(self.name)
        except FileNotFoundError:
            pass

    def __enter__(self) -> "SpoolFile":
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()


class FileSystemBlobStore(BlobStore):
    """Blobs as files under a root directory."""

    def __init__(self, root: str | os.PathLike[str], fsync: bool = True) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        self._root, self._tmp = str(self.root), str(self.tmp)  # strings for the hot paths
        self.fsync = fsync
        self.tmp.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return Path(self._file(key))

    def _file(self, key: str) -> str:
        if not _KEY.fullmatch(key):
            raise ValueError("blob keys are SHA-256 hex digests")
        return f"{self._root}/{key[:2]}/{key[2:4]}/{key}"

    def spool(self, head_size: int = 0) -> SpoolFile:
        return SpoolFile(self._tmp, self.fsync, head_size)

    def _fsync_dir(self, directory: str | Path) -> None:
        if not self.fsync:
            return
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def put(self, spool: SpoolFile) -> bool:
        target = self._file(spool.key)
        directory = os.path.dirname(target)
        if os.path.exists(target):
            # Already there, but perhaps only just linked by a concurrent put that has not
            # fsynced the directory yet: make the entry durable before the caller commits.
            self._fsync_dir(directory)
            return False
        spool.sync()
        # Link the spool's (complete, durable) file into place: the name appears atomically,
        # and the spool stays usable by its owner. A racing put of the same key linked the
        # same bytes first: nothing to do.
        try:
            os.link(spool.name, target)
        except FileNotFoundError:  # the first file under this prefix: make its directories
            parent = os.path.dirname(directory)
            created = [d for d in (parent, directory) if not os.path.exists(d)]
            os.makedirs(directory, exist_ok=True)
            for made in created:  # a new directory's own entry must be durable too
                self._fsync_dir(os.path.dirname(made))
            try:
                os.link(spool.name, target)
            except FileExistsError:  # a concurrent put of the same bytes linked it first
                self._fsync_dir(directory)
                return False
        except FileExistsError:
            self._fsync_dir(directory)
            return False
        self._fsync_dir(directory)
        return True

    def put_bytes(self, data: bytes) -> str:
        """Store bytes (tests and tools); return the key."""
        with self.spool() as spool:
            spool.write(data)
            spool.finish()
            self.put(spool)
            return spool.key

    def open(self, key: str) -> BinaryIO:
        return open(self._file(key), "rb")

    def exists(self, key: str) -> bool:
        return os.path.exists(self._file(key))

    def size(self, key: str) -> int:
        return os.stat(self._file(key)).st_size

    def delete(self, key: str) -> None:
        try:
            self.path(key).unlink()
        except FileNotFoundError:
            pass

    def keys(self) -> Iterator[str]:
        """Every stored key (maintenance)."""
        for path in self.root.glob("??/??/*"):
            if len(path.name) == 64:
                yield path.name

    def sweep(self, is_referenced: Callable[[Iterable[str]], set[str]],
              min_age_seconds: float = 3600) -> int:
        """Remove stale temporary files and files no index row references; return the count.

        ``is_referenced`` gets a batch of keys and returns those still referenced. Only files
        older than ``min_age_seconds`` are touched, so a store in flight is never swept.
        """
        removed = 0
        cutoff = time.time() - min_age_seconds
        for path in self.tmp.iterdir():
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                pass
        batch: list[str] = []

        def flush() -> int:
            referenced = is_referenced(batch)
            count = 0
            for key in batch:
                if key not in referenced:
                    path = self.path(key)
                    try:
                        if path.stat().st_mtime < cutoff:
                            path.unlink()
                            count += 1
                    except FileNotFoundError:
                        pass
            batch.clear()
            return count

        for key in self.keys():
            batch.append(key)
            if len(batch) >= 500:
                removed += flush()
        if batch:
            removed += flush()
        return removed

    def check(self) -> None:
        probe = self.tmp / f"health-{uuid.uuid4().hex}"
        probe.write_bytes(b"ok")
        try:
            if probe.read_bytes() != b"ok":
                raise OSError("blob store read back different bytes")
        finally:
            probe.unlink()


def init_app(app: Flask) -> FileSystemBlobStore:
    """Create the blob store and register the ``flask blobs sweep`` command."""
    import click

    store = FileSystemBlobStore(app.config["BLOB_STORE_PATH"], app.config["FSYNC"])
    app.extensions["dicom_blobs"] = store

    @app.cli.group("blobs")
    def blobs_group() -> None:
        """Blob store maintenance."""

    @blobs_group.command("sweep")
    @click.option("--min-age", default=3600.0, show_default=True,
                  help="Only remove files older than this many seconds.")
    def sweep_command(min_age: float) -> None:
        """Remove files that no instance references, and stale temporary files."""
        from .services.maintenance import sweep_blobs

        removed = sweep_blobs(app.extensions["dicom_db"], store, min_age)
        click.echo(f"Removed {removed} files.")

    return store


def get_blobstore() -> FileSystemBlobStore:
    return current_app.extensions["dicom_blobs"]


def iter_file(handle: BinaryIO, chunk: int = CHUNK) -> Iterator[bytes]:
    """Yield a file's bytes in chunks, closing it at the end."""
    try:
        while True:
            data = handle.read(chunk)
            if not data:
                break
            yield data
    finally:
        handle.close()
