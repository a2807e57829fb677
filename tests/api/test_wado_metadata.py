"""WADO-RS metadata, ETags and bulk data (reference.md §4.4, decisions §5)."""
from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.api.helpers import store
from tests.api.wado_helpers import bundled_file, instance_url, parts
from tests.dicom_factory import make_dataset, uid


def test_retrieve_metadata_returns_arrays_with_etag(client, base):
    study, series = uid(), uid()
    first = make_dataset(study_uid=study, series_uid=series)
    second = make_dataset(study_uid=study, series_uid=series)
    third = make_dataset(study_uid=study)
    assert store(client, base, first, second, third).status_code == 200

    response = client.get(f"{base}/studies/{study}/metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/dicom+json"
    body = response.get_json()
    assert [d["00080018"]["Value"][0] for d in body] == [
        first.SOPInstanceUID, second.SOPInstanceUID, third.SOPInstanceUID]
    study_etag = response.headers["ETag"]
    max_watermark, count = study_etag.split("-")
    assert count == "3" and not study_etag.startswith('"')

    response = client.get(f"{base}/studies/{study}/series/{series}/metadata",
                          headers={"Accept": "application/dicom+json"})
    assert len(response.get_json()) == 2
    assert response.headers["ETag"].endswith("-2")

    response = client.get(instance_url(base, first) + "/metadata")
    assert len(response.get_json()) == 1
    instance_etag = response.headers["ETag"]
    assert instance_etag.isdigit() and int(instance_etag) < int(max_watermark)

    response = client.get(f"{base}/studies/{study}/metadata",
                          headers={"If-None-Match": study_etag})
    assert response.status_code == 304
    assert response.get_data() == b"" and "ETag" not in response.headers
    response = client.get(instance_url(base, first) + "/metadata",
                          headers={"If-None-Match": f'"{instance_etag}"'})  # quoted works too
    assert response.status_code == 304

    store(client, base, make_dataset(study_uid=study))  # a new instance changes the ETag
    response = client.get(f"{base}/studies/{study}/metadata",
                          headers={"If-None-Match": study_etag})
    assert response.status_code == 200 and len(response.get_json()) == 4
    assert response.headers["ETag"] != study_etag


def test_retrieve_metadata_errors(client, base):
    ds = make_dataset()
    store(client, base, ds)
    response = client.get(f"{base}/studies/{ds.StudyInstanceUID}/metadata",
                          headers={"Accept": "application/data"})
    assert response.status_code == 406
    response = client.get(f"{base}/studies/{uid()}/metadata")
    assert (response.status_code, response.get_data()) == (
        404, b"The specified study cannot be found.")
    response = client.get(f"{base}/studies/{ds.StudyInstanceUID}/series/{uid()}/metadata")
    assert response.get_data() == b"The specified series cannot be found."
    response = client.get(f"{base}/studies/{ds.StudyInstanceUID}/series/"
                          f"{ds.SeriesInstanceUID}/instances/{uid()}/metadata")
    assert response.get_data() == b"The specified instance cannot be found."


def test_retrieve_bulkdata_serves_uris_from_metadata(client, base):
    ds = make_dataset(rows=2, columns=2)
    item = Dataset()
    item.add_new(0x00181072, "OB", b"\x01\x02\x03\x04")  # binary value inside a sequence
    ds.add_new(0x00540016, "SQ", Sequence([item]))
    ds.add_new(0x00091010, "OB", b"x" * 70000)  # large: deferred at store time
    store(client, base, ds)
    metadata = client.get(instance_url(base, ds) + "/metadata").get_json()[0]
    instance = "http://localhost" + instance_url(base, ds)
    pixel_uri = metadata["7FE00010"]["BulkDataURI"]
    assert pixel_uri == f"{instance}/bulkdata/7FE00010"
    nested = metadata["00540016"]["Value"][0]["00181072"]["BulkDataURI"]
    assert nested == f"{instance}/bulkdata/00540016/0/00181072"

    response = client.get(pixel_uri.replace("http://localhost", ""))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == (
        "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1")
    assert response.get_data() == ds.PixelData
    response = client.get(nested.replace("http://localhost", ""))
    assert response.get_data() == b"\x01\x02\x03\x04"
    response = client.get(metadata["00091010"]["BulkDataURI"].replace("http://localhost", ""))
    assert response.get_data() == b"x" * 70000
    response = client.get(pixel_uri.replace("http://localhost", ""), headers={
        "Accept": "multipart/related; type=application/octet-stream"})
    assert [body for _, body in parts(response)] == [ds.PixelData]

    for path in ("00100010", "7FE00011", "00540016/1/00181072", "zz", "00540016/0"):
        response = client.get(f"{instance_url(base, ds)}/bulkdata/{path}")
        assert response.status_code == 404, path
        assert response.get_data() == b"The specified bulk data cannot be found."


def test_retrieve_bulkdata_of_encapsulated_pixel_data(make_app):
    client = make_app().test_client()
    data, ds = bundled_file("JPEG2000.dcm")
    store(client, "", data)
    response = client.get(instance_url("", ds) + "/bulkdata/7FE00010")
    assert response.status_code == 200
    assert response.headers["Content-Type"].endswith("transfer-syntax=1.2.840.10008.1.2.4.91")
    body = response.get_data()
    assert body[:4] == b"\xfe\xff\x00\xe0"  # the basic offset table item
    assert data.endswith(body + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00")


def test_retrieve_after_delete_changes_etag_and_hides_instance(client, base):
    study = uid()
    kept, deleted = make_dataset(study_uid=study), make_dataset(study_uid=study)
    store(client, base, kept, deleted)
    etag = client.get(f"{base}/studies/{study}/metadata").headers["ETag"]
    assert client.delete(instance_url(base, deleted)).status_code == 204
    response = client.get(f"{base}/studies/{study}/metadata", headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] != etag
    assert [d["00080018"]["Value"][0] for d in response.get_json()] == [kept.SOPInstanceUID]
    assert len(parts(client.get(f"{base}/studies/{study}"))) == 1
    assert client.get(instance_url(base, deleted) + "/metadata").status_code == 404
