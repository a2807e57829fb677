"""The suite's shared botocore model cache (tests/botocore_cache.py): new sessions reuse what
the first loaded, and their clients still work against the real S3 server."""
from __future__ import annotations

import boto3
from botocore import loaders

from tests import botocore_cache


def _loader(session: boto3.session.Session) -> loaders.Loader:
    return session._session.get_component("data_loader")


def test_new_sessions_share_loaded_models_and_their_clients_work(s3_server):
    assert loaders.Loader.__init__ is botocore_cache._init_with_shared_cache  # installed
    first, second = boto3.session.Session(), boto3.session.Session()
    assert _loader(first) is not _loader(second)
    model = _loader(first).load_service_model("s3", "service-2")
    assert _loader(second).load_service_model("s3", "service-2") is model
    # A loader with other search paths keeps a cache of its own.
    other = loaders.Loader(extra_search_paths=["/nonexistent"])
    assert other._cache is not _loader(first)._cache

    bucket = s3_server.new_bucket()
    for session in (first, second):
        client = session.client("s3", endpoint_url=s3_server.endpoint_url,
                                region_name=s3_server.region,
                                aws_access_key_id=s3_server.access_key,
                                aws_secret_access_key=s3_server.secret_key)
        client.put_object(Bucket=bucket, Key="k", Body=b"bytes")
        assert client.get_object(Bucket=bucket, Key="k")["Body"].read() == b"bytes"
