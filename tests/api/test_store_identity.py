"""The store identity: the database and the blob store carry one, so a server never pairs an
index with another archive's files (issue #15, item 2)."""
from __future__ import annotations

from typing import Any

import pytest

from app import StartupError
from tests.blob_support import remove_identity
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3


def _identity_in_database(app: Any) -> str | None:
    with app.extensions["dicom_db"].connection() as conn:
        rows = conn.fetchall("SELECT identity FROM store_identity")
    return rows[0]["identity"] if rows else None


def _forget_in_database(app: Any) -> None:
    with app.extensions["dicom_db"].connection() as conn:
        with conn.transaction():
            conn.execute("DELETE FROM store_identity")


def test_first_start_writes_one_identity_into_both(make_app):
    app = make_app()
    identity = app.extensions["dicom_blobs"].identity()
    assert identity and _identity_in_database(app) == identity
    again = make_app()  # a restart keeps it
    assert again.extensions["dicom_blobs"].identity() == identity


def test_another_archives_blob_store_refuses_to_start(make_app, tmp_path, backend):
    # The other archive's store: another folder, or another prefix in the bucket.
    other = ({"S3_PREFIX": f"other-{tmp_path.name}/"} if backend == "s3"
             else {"BLOB_STORE_PATH": str(tmp_path / "other")})
    make_app(**other)
    _forget_in_database(make_app(**other))
    make_app()  # this database now belongs to the default store
    with pytest.raises(StartupError, match="not one archive's index and files"):
        make_app(**other)


def test_a_database_without_identity_beside_an_identified_store_refuses_to_start(make_app):
    """A new or another database, or a backup from before identities: the sweep would take
    every file stored since for unreferenced. DICOM_ADOPT_STORE_IDENTITY=true adopts."""
    app = make_app()
    identity = app.extensions["dicom_blobs"].identity()
    _forget_in_database(app)
    with pytest.raises(StartupError, match="the database has no store identity"):
        make_app()
    adopted = make_app(ADOPT_STORE_IDENTITY=True)
    assert _identity_in_database(adopted) == identity
    make_app()  # from now on without the setting


def test_an_existing_pair_without_identities_adopts_one_on_upgrade(make_app):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    _forget_in_database(app)
    remove_identity(blobs)  # as a store and database from before identities
    upgraded = make_app()
    identity = upgraded.extensions["dicom_blobs"].identity()
    assert identity and _identity_in_database(upgraded) == identity
