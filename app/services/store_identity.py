"""The store identity: one value in the blob store and in the database, so a server never
pairs an index with another archive's files (issue #15; docs/operations.md).

On first start (both without one) a new identity is written into the database, then into the
blob store. A blob store without one adopts the database's (an upgrade, or a first start that
stopped in between). A database without one, next to a blob store that has one, is another
(or a new, or a restored pre-identity) database: the server refuses to start unless told to
adopt the store's identity. Different identities: the server refuses to start.
"""
from __future__ import annotations

import uuid

from ..blobs import BlobStore
from ..dao import maintenance as dao
from ..db import Database


class StoreIdentityError(RuntimeError):
    """The database and the blob store are not one archive's index and files."""


def check_store_identity(database: Database, blobs: BlobStore, where: str,
                         adopt: bool = False) -> str:
    """Make sure the database and the blob store carry one identity; return it.

    ``where``: the blob store's location, for the message. ``adopt``: a database without an
    identity takes the blob store's.
    """
    stored = blobs.identity()  # first: a concurrent first start writes the database first
    with database.connection() as conn:
        with conn.transaction(write=False):
            indexed = dao.get_store_identity(conn)
        if indexed is None and stored is not None and not adopt:
            raise StoreIdentityError(
                f"The blob store at {where} belongs to store {stored}, but the database has no "
                f"store identity: it is a new or another database, or a backup from before "
                f"store identities. Starting could let the blob sweep take every file stored "
                f"since for unreferenced. If this database is the index of these files, start "
                f"once with DICOM_ADOPT_STORE_IDENTITY=true.")
        if indexed is None:
            with conn.transaction(write=True):
                dao.add_store_identity(conn, stored or str(uuid.uuid4()))
                indexed = dao.get_store_identity(conn)
    assert indexed is not None
    stored = blobs.set_identity(indexed)
    if stored != indexed:
        raise StoreIdentityError(
            f"The blob store at {where} belongs to store {stored}, the database to store "
            f"{indexed}: they are not one archive's index and files. Check DICOM_DATABASE_URL "
            f"and DICOM_BLOB_STORE_PATH.")
    return indexed
