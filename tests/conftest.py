"""Fixtures: every database test runs on SQLite and PostgreSQL, every API test in both
partition modes; a module marked ``pytestmark = with_s3`` (``tests/s3_server.py``) runs on a
third ``backend``, ``s3``: PostgreSQL with the blobs in a bucket of a real SeaweedFS server
(one per test worker, started when first needed).

PostgreSQL: ``DICOM_TEST_DATABASE_URL`` (a server URL whose user may create databases), else the
local cluster at 127.0.0.1:5432 if it answers. With ``DICOM_REQUIRE_POSTGRES=1`` (set by
``.ci/run``) an unreachable PostgreSQL fails the run instead of skipping its tests.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable

import psycopg2
import pytest

from app import create_app
from app.db import Database
from tests import botocore_cache, route_builders

# Test speed: what every new app would load or compile again is kept for the process.
route_builders.install()  # werkzeug's URL builders (tests/route_builders.py)
botocore_cache.install()  # botocore's model files (tests/botocore_cache.py)

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
PARTITION = "SiteA"
HERE = Path(__file__).parent


def _pg_server_url() -> str | None:
    url = os.environ.get("DICOM_TEST_DATABASE_URL") or DEFAULT_PG_URL
    try:
        psycopg2.connect(url, connect_timeout=3).close()
        return url
    except psycopg2.Error:
        if os.environ.get("DICOM_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but not reachable at {url}")
        return None


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture(scope="session")
def pg_test_url(worker_id: str) -> str | None:
    """A migrated PostgreSQL database for this test worker (None if PostgreSQL is absent)."""
    server = _pg_server_url()
    if server is None:
        yield None
        return
    name = f"dicom_test_{worker_id}_{os.getpid()}"
    admin = psycopg2.connect(server)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cur.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(server, name)
    database = Database(url)
    database.migrate()
    database.close()
    yield url
    with admin.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for every test."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    database = Database(f"sqlite:///{path}")
    database.migrate()
    database.close()
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """The database (``s3``: PostgreSQL with the blobs in a bucket, in modules marked
    ``with_s3``)."""
    return request.param


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    """This worker's SeaweedFS S3 server; the standard AWS variables point boto3 at it."""
    from tests.s3_server import SeaweedServer

    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs")).start()
    patch = pytest.MonkeyPatch()
    for name, value in server.environment().items():
        patch.setenv(name, value)
    yield server
    patch.undo()
    server.close()


@pytest.fixture
def s3_bucket(s3_server) -> str:
    """A fresh, empty bucket on this worker's S3 server (~0.5 s)."""
    return s3_server.new_bucket()


@pytest.fixture
def s3_prefix() -> str:
    """A fresh key prefix: in the server's ``shared_bucket`` as good as a new bucket, and free."""
    return f"t-{uuid.uuid4().hex[:12]}/"


@pytest.fixture
def database_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, migrated database for one test."""
    if backend == "sqlite":
        path = tmp_path / "dicom.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_test_url")
    if url is None:
        pytest.skip("PostgreSQL is not reachable")
    conn = psycopg2.connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute((HERE / "sql_reset_postgresql.sql").read_text())
        conn.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(params=["plain", "partitioned"])
def partition_mode(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_app(database_url: str, tmp_path: Path, backend: str,
             request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Build an app on this test's database (and bucket, on the ``s3`` backend); keyword
    arguments override settings."""
    apps = []
    blob_settings: dict[str, Any] = {}
    if backend == "s3":
        server = request.getfixturevalue("s3_server")
        blob_settings = server.settings(server.shared_bucket,
                                        request.getfixturevalue("s3_prefix"))

    def factory(**overrides: Any):
        settings = {
            "TESTING": True,
            "DATA_DIR": str(tmp_path / "data"),
            "DATABASE_URL": database_url,
            "ENABLE_DATA_PARTITIONS": False,
            "FSYNC": False,
            "ENABLE_BACKGROUND_WORKER": False,
            "SWEEP_BLOBS_AT_STARTUP": False,
            "SWEEP_INTERVAL_SECONDS": 0,
            "LOG_LEVEL": "WARNING",
            **blob_settings,
        }
        settings.update(overrides)
        app = create_app(settings)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["dicom_db"].close()
        for name in ("dicom_worker", "dicom_blob_sweep", "dicom_cache_check"):
            thread = app.extensions.get(name)
            if thread is not None:
                thread.stop()


@pytest.fixture
def app(make_app: Callable[..., Any], partition_mode: str):
    """The app in the test's partition mode."""
    return make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned")


@pytest.fixture
def base(partition_mode: str) -> str:
    """URL prefix of partition-aware routes in this mode ('' or '/partitions/SiteA')."""
    return f"/partitions/{PARTITION}" if partition_mode == "partitioned" else ""


@pytest.fixture(scope="session")
def idp():
    """A local OpenID identity provider (discovery + JWKS on 127.0.0.1) for security tests."""
    from tests.identity_provider import LocalIdentityProvider

    provider = LocalIdentityProvider()
    yield provider
    provider.close()


@pytest.fixture
def unique() -> Callable[[], str]:
    return lambda: uuid.uuid4().hex[:8]
