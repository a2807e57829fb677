"""Helpers for tests that reach into a blob store of either backend (file system or S3)."""
from __future__ import annotations

import os
import time

from app.blobs import BlobStore, FileSystemBlobStore


def backdate(store: BlobStore, key: str, seconds: float, quarantined: bool = False) -> None:
    """Make a stored (or quarantined) blob ``seconds`` old."""
    stamp = time.time() - seconds
    if isinstance(store, FileSystemBlobStore):
        path = store.quarantine_dir / key if quarantined else store.path(key)
        os.utime(path, (stamp, stamp))
        return
    name = store._quarantined(key) if quarantined else store._object(key)
    store.client.copy_object(Bucket=store.bucket, Key=name,
                             CopySource={"Bucket": store.bucket, "Key": name},
                             MetadataDirective="REPLACE", Metadata={"written": f"{stamp:.3f}"})


def _forget_cached(store: BlobStore, key: str) -> None:
    """Drop the node's cached copy of an object (S3 read cache), so the bucket's is read."""
    cache = getattr(store, "cache", None)
    if cache is not None:
        cache.drop(key)


def remove_behind_the_index(store: BlobStore, key: str) -> None:
    """Remove a blob the way a lost file or object would vanish (not through the store's
    bookkeeping; an object and this node's cached copy of it)."""
    if isinstance(store, FileSystemBlobStore):
        store.path(key).unlink()
    else:
        store.client.delete_object(Bucket=store.bucket, Key=store._object(key))
        _forget_cached(store, key)


def corrupt(store: BlobStore, key: str, data: bytes) -> None:
    """Replace a blob's bytes behind the store's back (bit rot; an object's cached copy is
    dropped, so the bucket's bytes are read)."""
    if isinstance(store, FileSystemBlobStore):
        store.path(key).write_bytes(data)
    else:
        store.client.put_object(Bucket=store.bucket, Key=store._object(key), Body=data)
        _forget_cached(store, key)


def remove_identity(store: BlobStore) -> None:
    """Remove the store identity (a store from before identities)."""
    if isinstance(store, FileSystemBlobStore):
        (store.root / ".store-id").unlink()
    else:
        store.client.delete_object(Bucket=store.bucket, Key=f"{store.prefix}store-id")
