"""STOW-RS request forms (issue #3, reference.md §3): multipart boundaries and part types,
Accept negotiation, and the answers to requests the server refuses or cannot store (content
types, size limit, a bad study UID in the URL, a failing disk)."""
from __future__ import annotations

import pytest

from tests.api.helpers import store
from tests.api.stow_support import blob_keys, count, failure_reasons, temp_files
from tests.dicom_factory import make_dataset, multipart, to_bytes
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3


@pytest.mark.parametrize("content_type", [
    'multipart/related; type="application/dicom"; boundary="{b}"',
    "multipart/related; type=application/dicom; boundary={b}",
    "Multipart/Related; boundary={b}",
])
def test_store_multipart_boundary_forms_return_200(make_app, content_type):
    client = make_app().test_client()
    body, _ = multipart([to_bytes(make_dataset())], boundary="a'b(c)d+e_f,g-h.i/j:k=l?m")
    response = client.post("/studies", data=body, headers={
        "Content-Type": content_type.format(b="a'b(c)d+e_f,g-h.i/j:k=l?m")})
    assert response.status_code == 200, response.data


def test_store_first_part_without_content_type_uses_root_type(make_app):
    client = make_app().test_client()
    body, content_type = multipart([to_bytes(make_dataset())], content_type=None)
    assert client.post("/studies", data=body,
                       headers={"Content-Type": content_type}).status_code == 200


def test_store_part_of_wrong_type_returns_415_and_stores_nothing(make_app):
    app = make_app()
    good = to_bytes(make_dataset())
    body, content_type = multipart([good])
    other, _ = multipart([b"{}"], boundary="x", content_type="application/json")
    body = body.replace(b"--\r\n", b"\r\n") + b"Content-Type: application/json\r\n\r\n{}\r\n" + \
        body.split(b"\r\n", 1)[0] + b"--\r\n"
    response = app.test_client().post("/studies", data=body,
                                      headers={"Content-Type": content_type})
    assert response.status_code == 415
    assert response.get_data(as_text=True) == (
        "The specified content type 'application/json' is not supported.")
    assert count(app, "instances") == 0 and blob_keys(app) == [] and temp_files(app) == []


@pytest.mark.parametrize("content_type,status,text", [
    ("text/plain", 415, ""),  # the reference's [Consumes] filter: empty body
    (None, 415, "The specified content type '' is not supported."),
    ("application/dicom; charset=x", 415,
     "The specified content type 'application/dicom; charset=x' is not supported."),
    ('multipart/related; type="application/dicom"', 415,
     "The content type 'multipart/related; type=\"application/dicom\"' is either not multipart "
     "or is missing boundary."),
    ("multipart/related; boundary=b; start=x", 400,
     "The start parameter in multipart/related request is not supported."),
])
def test_store_bad_content_type_returns_error(make_app, content_type, status, text):
    client = make_app().test_client()
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/studies", data=to_bytes(make_dataset()), headers=headers)
    assert response.status_code == status
    assert response.mimetype == "text/plain"
    assert response.get_data(as_text=True) == text


@pytest.mark.parametrize("accept,status", [
    ("application/dicom", 406), ("application/dicom+json+x", 406), ("text/html", 406),
    ("application/dicom+json; charset=utf-8", 200), ("application/json", 200),
    ("application/*", 200), ("text/html, */*", 200), (None, 200)])
def test_store_accept_header_negotiation(make_app, accept, status):
    client = make_app().test_client()
    headers = {"Content-Type": "application/dicom"}
    if accept:
        headers["Accept"] = accept
    response = client.post("/studies", data=to_bytes(make_dataset()), headers=headers)
    assert response.status_code == status
    if status == 406:
        assert response.data == b""


def test_store_part_over_size_limit_returns_413(make_app):
    app = make_app(MAX_PART_SIZE=1000)
    client = app.test_client()
    data = to_bytes(make_dataset(rows=64, columns=64))
    text = "The request exceeded the allowed limit of 1000 bytes."
    single = client.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert (single.status_code, single.get_data(as_text=True)) == (413, text)
    multi = store(client, "", data)
    assert (multi.status_code, multi.get_data(as_text=True)) == (413, text)
    assert count(app, "instances") == 0 and temp_files(app) == []


def test_store_invalid_study_uid_in_url_returns_400(make_app):
    response = store(make_app().test_client(), "", make_dataset(), study="1.2.abc")
    assert response.status_code == 400
    assert response.get_data(as_text=True) == (
        "Dicom element 'StudyInstanceUid' failed validation for VR 'UI': DICOM Identifier is "
        "invalid. Value length should not exceed the maximum length of 64 characters. Value "
        "should contain characters in '0'-'9' and '.'. Each component must start with "
        "non-zero number.")


def test_store_file_write_failure_returns_409_with_272(make_app, monkeypatch):
    app = make_app()
    blobs = app.extensions["dicom_blobs"]

    def broken_put(spool):
        raise OSError("disk full")

    monkeypatch.setattr(blobs, "put", broken_put)
    response = store(app.test_client(), "", make_dataset())
    assert response.status_code == 409
    assert failure_reasons(response.json) == [272]
    assert count(app, "instances") == 0 and count(app, "change_feed") == 0
    assert temp_files(app) == []


@pytest.mark.parametrize("multipart_body", [False, True])
def test_store_body_that_cannot_be_spooled_returns_503(make_app, monkeypatch, multipart_body):
    """A full (or failing) disk while the body is received: 503 like the reference's data
    store errors, nothing stored, no temporary file left."""
    app = make_app()
    blobs = app.extensions["dicom_blobs"]
    real_spool = blobs.spool

    def failing_spool(*args):
        spool = real_spool(*args)
        spool.write = spool.fill = _raise_enospc
        return spool

    monkeypatch.setattr(blobs, "spool", failing_spool)
    data = to_bytes(make_dataset())
    client = app.test_client()
    if multipart_body:
        body, content_type = multipart([data])
        response = client.post("/studies", data=body, headers={"Content-Type": content_type})
    else:
        response = store(client, "", data)
    assert response.status_code == 503
    assert response.data == b"The data store is unavailable."
    assert count(app, "instances") == 0 and temp_files(app) == []


def _raise_enospc(*args, **kwargs):
    raise OSError(28, "No space left on device")
