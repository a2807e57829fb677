"""WADO-RS retrieve of studies, series, instances and frames (reference.md §4.1-4.3)."""
from __future__ import annotations

import numpy as np
import pytest

from app.dicomweb.pixels import SIZE_LIMIT
from tests.api.helpers import store
from tests.api.wado_helpers import instance_url, parts, read, bundled_file
from tests.blob_support import remove_behind_the_index
from tests.dicom_factory import make_dataset, to_bytes, uid
from tests.s3_server import with_s3

#: Also on PostgreSQL with the S3 blob store.
pytestmark = with_s3

EXPLICIT = "1.2.840.10008.1.2.1"
J2K = "1.2.840.10008.1.2.4.90"
INVALID_UID = ("Dicom element 'StudyInstanceUid' failed validation for VR 'UI': DICOM Identifier "
               "is invalid. Value length should not exceed the maximum length of 64 characters. "
               "Value should contain characters in '0'-'9' and '.'. Each component must start "
               "with non-zero number.")
INVALID_FRAMES = ("The specified frames value is not valid. At least one frame must be present, "
                  "and all requested frames must have value greater than 0.")
NOT_ACCEPTABLE = b"The request headers are not acceptable"


def test_retrieve_study_series_instance_returns_stored_bytes(client, base):
    study, series = uid(), uid()
    first = make_dataset(study_uid=study, series_uid=series)
    second = make_dataset(study_uid=study, series_uid=series, InstanceNumber=2)
    other = make_dataset(study_uid=study)
    stored = {ds.SOPInstanceUID: to_bytes(ds) for ds in (first, second, other)}
    assert store(client, base, first, second, other).status_code == 200

    response = client.get(f"{base}/studies/{study}")  # no Accept: */* (decisions §5)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(
        'multipart/related; type="application/dicom"')
    got = parts(response)
    assert [ct for ct, _ in got] == [f"application/dicom; transfer-syntax={EXPLICIT}"] * 3
    assert sorted(body for _, body in got) == sorted(stored.values())
    assert int(response.headers["Content-Length"]) == len(response.get_data())

    response = client.get(f"{base}/studies/{study}/series/{series}", headers={
        "Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'})
    assert response.status_code == 200
    assert [body for _, body in parts(response)] == [stored[first.SOPInstanceUID],
                                                     stored[second.SOPInstanceUID]]

    response = client.get(instance_url(base, first),
                          headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == f"application/dicom; transfer-syntax={EXPLICIT}"
    assert response.get_data() == stored[first.SOPInstanceUID]

    response = client.get(instance_url(base, first))  # */* -> multipart (reference.md §4.2)
    assert [body for _, body in parts(response)] == [stored[first.SOPInstanceUID]]
    for prefix in ("/v1", "/v1.0-prerelease", "/v2"):
        response = client.get(instance_url(base, second, prefix=prefix),
                              headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.get_data() == stored[second.SOPInstanceUID], prefix


def test_retrieve_missing_resources_return_404_texts(client, base):
    ds = make_dataset()
    store(client, base, ds)
    cases = {
        f"{base}/studies/{uid()}": b"The specified study cannot be found.",
        f"{base}/studies/{ds.StudyInstanceUID}/series/{uid()}":
            b"The specified series cannot be found.",
        f"{base}/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}/instances/{uid()}":
            b"The specified instance cannot be found.",
        f"{base}/studies/{uid()}/series/{uid()}/instances/{uid()}/frames/1":
            b"The specified instance cannot be found.",
    }
    for url, text in cases.items():
        response = client.get(url)
        assert (response.status_code, response.get_data()) == (404, text), url


def test_retrieve_invalid_uids_return_400(client, base):
    store(client, base, make_dataset())  # creates the partition
    for url in (f"{base}/studies/abc", f"{base}/studies/1.2.a/metadata",
                f"{base}/studies/{'1' * 65}/series/1.2/instances/1.3/frames/1"):
        response = client.get(url)
        assert response.status_code == 400, url
        assert response.get_data().decode() == INVALID_UID
    response = client.get(f"{base}/studies/1.2/series/x.1/instances/1.3")
    assert response.get_data().decode() == INVALID_UID.replace("StudyInstanceUid",
                                                               "SeriesInstanceUid")
    response = client.get(f"{base}/studies/1.2/series/1.3/instances/1.x/rendered")
    assert response.get_data().decode() == INVALID_UID.replace("StudyInstanceUid",
                                                               "SopInstanceUid")


def test_retrieve_study_unacceptable_accept_returns_406(make_app):
    client = make_app().test_client()
    study = uid()
    store(client, "", make_dataset(study_uid=study), make_dataset(study_uid=study))
    for header in ("application/dicom", "application/octet-stream",
                   'multipart/related; type="application/dicom"; '
                   'transfer-syntax=1.2.840.10008.1.2.4.100',
                   "multipart/related; type=application/dicom; q=abc", "text/html",
                   "multipart/related; type=application/dicom; q=0", ";;;,", "image/jp2"):
        response = client.get(f"/studies/{study}", headers={"Accept": header})
        assert (response.status_code, response.get_data()) == (406, NOT_ACCEPTABLE), header
    # q-values: the best acceptable value wins; an explicit * wins a tie
    response = client.get(f"/studies/{study}", headers={
        "Accept": "text/html;q=1, multipart/related; type=application/dicom; q=0.5"})
    assert response.status_code == 200
    response = client.get(f"/studies/{study}", headers={
        "Accept": "multipart/related; type=application/dicom, "
                  "multipart/related; type=application/dicom; transfer-syntax=*"})
    assert response.status_code == 200


def test_retrieve_study_explicit_syntax_transcodes_each_instance(make_app):
    app = make_app()
    client = app.test_client()
    study = uid()
    native = make_dataset(study_uid=study)
    implicit = make_dataset(study_uid=study)
    rle, _ = bundled_file("SC_rgb_rle_2frame.dcm")
    assert store(client, "", native, to_bytes(implicit, implicit=True)).status_code in (200, 202)
    assert store(client, "", rle).status_code == 200
    response = client.get(f"/studies/{study}", headers={
        "Accept": "multipart/related; type=application/dicom"})  # default: Explicit VR LE
    assert response.status_code == 200
    got = parts(response)
    assert [ct for ct, _ in got] == [f"application/dicom; transfer-syntax={EXPLICIT}"] * 2
    assert got[0][1] == to_bytes(native)
    converted = read(got[1][1])
    assert converted.file_meta.TransferSyntaxUID == EXPLICIT
    assert converted.SOPInstanceUID == implicit.SOPInstanceUID
    assert np.array_equal(converted.pixel_array, implicit.pixel_array)
    response.close()
    assert not list(app.extensions["dicom_blobs"].tmp.glob("transcode-*"))  # removed on close


def test_retrieve_instance_transcodes_compressed_files(make_app):
    client = make_app().test_client()
    cases = ("JPEG2000.dcm", "SC_rgb_rle_2frame.dcm", "MR_small_jpeg_ls_lossless.dcm",
             "SC_rgb_jpeg_gdcm.dcm")
    for name in cases:
        data, ds = bundled_file(name, fresh_uids=True)
        assert store(client, "", data).status_code in (200, 202), name
        original = read(data)
        response = client.get(instance_url("", ds), headers={"Accept": "application/dicom"})
        assert response.status_code == 200, name
        assert response.headers["Content-Type"] == f"application/dicom; transfer-syntax={EXPLICIT}"
        out = read(response.get_data())
        assert out.file_meta.TransferSyntaxUID == EXPLICIT
        assert out.SOPInstanceUID == ds.SOPInstanceUID
        assert np.array_equal(out.pixel_array, original.pixel_array), name

    data, ds = bundled_file("SC_rgb_rle_2frame.dcm")
    store(client, "", data)
    response = client.get(instance_url("", ds),
                          headers={"Accept": f"application/dicom; transfer-syntax={J2K}"})
    assert response.status_code == 200
    out = read(response.get_data())
    assert out.file_meta.TransferSyntaxUID == J2K
    assert np.array_equal(out.pixel_array, read(data).pixel_array)


def test_retrieve_instance_untranscodable_returns_406(make_app):
    app = make_app()
    client = app.test_client()
    ds = make_dataset()
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: stored as sent
    ds["PixelData"].VR = "OB"
    from pydicom.encaps import encapsulate
    ds.PixelData = encapsulate([b"\x00" * 8])
    assert store(client, "", ds).status_code == 200
    response = client.get(instance_url("", ds), headers={"Accept": "application/dicom"})
    assert response.status_code == 406
    assert response.get_data() == b"The specified transcoding is not supported."
    response = client.get(instance_url("", ds) + "/frames/1",
                          headers={"Accept": "application/octet-stream"})
    assert response.status_code == 406
    response = client.get(instance_url("", ds) + "/frames/1")  # */*: original
    assert parts(response) == [("application/octet-stream; transfer-syntax="
                                "1.2.840.10008.1.2.4.100", b"\x00" * 8)]


def test_retrieve_instance_too_large_to_transcode_returns_406(make_app, monkeypatch):
    client = make_app().test_client()
    ds = make_dataset()
    store(client, "", to_bytes(ds, implicit=True))
    monkeypatch.setattr("app.dicomweb.pixels.SIZE_LIMIT", 10)
    response = client.get(instance_url("", ds), headers={"Accept": "application/dicom"})
    assert response.status_code == 406
    assert response.get_data().decode() == (
        "Requested DICOM instance size is above the supported limit of 10. The entire instance "
        "can be retrieved with the original transfer syntax by specifying 'transfer-syntax=*' "
        "in the Accept header.")
    assert SIZE_LIMIT == 104857600


def test_retrieve_frames_native_and_encapsulated(client, base):
    ds = make_dataset(rows=2, columns=3, frames=5)
    assert store(client, base, ds).status_code == 200
    url = instance_url(base, ds)
    frame_size = 2 * 3 * 2
    pixel = ds.PixelData
    response = client.get(f"{url}/frames/1,3,5")
    assert response.status_code == 200
    assert parts(response) == [(f"application/octet-stream; transfer-syntax={EXPLICIT}",
                                pixel[i * frame_size:(i + 1) * frame_size]) for i in (0, 2, 4)]
    response = client.get(f"{url}/frames/2", headers={"Accept": "application/octet-stream"})
    assert response.headers["Content-Type"] == (
        f"application/octet-stream; transfer-syntax={EXPLICIT}")
    assert response.get_data() == pixel[frame_size:2 * frame_size]
    response = client.get(f"{url}/frames/1,2", headers={"Accept": "application/octet-stream"})
    assert response.status_code == 400
    assert response.get_data() == (b"The accept header is supported for single frame retrieval, "
                                   b"use multi-part accept header instead.")
    for frames, status, text in (("0", 400, INVALID_FRAMES), ("-1", 400, INVALID_FRAMES),
                                 ("1,,2", 400, INVALID_FRAMES),
                                 ("a", 400, "The query parameter 'frames' is invalid. "
                                            "Unable to parse value 'a' as Int32."),
                                 ("%D9%A1", 400, "The query parameter 'frames' is invalid. "
                                  "Unable to parse value '\u0661' as Int32."),
                                 ("99999999999", 400, "The query parameter 'frames' is invalid. "
                                  "Unable to parse value '99999999999' as Int32."),
                                 ("6", 404, "The specified frame cannot be found."),
                                 ("1,2147483647", 404, "The specified frame cannot be found.")):
        response = client.get(f"{url}/frames/{frames}")
        assert (response.status_code, response.get_data().decode()) == (status, text), frames


def test_retrieve_frames_of_compressed_files(make_app):
    client = make_app().test_client()
    data, ds = bundled_file("examples_ybr_color.dcm")  # JPEG baseline, 30 frames, YBR_FULL_422
    store(client, "", data)
    original = read(data)
    url = instance_url("", ds)
    response = client.get(f"{url}/frames/30", headers={"Accept": "application/octet-stream"})
    assert response.status_code == 200
    expected = original.pixel_array[29]
    assert response.get_data() == expected.tobytes()
    response = client.get(f"{url}/frames/1,2", headers={
        "Accept": "multipart/related; type=application/octet-stream; transfer-syntax=*"})
    got = parts(response)
    assert [ct for ct, _ in got] == ["application/octet-stream; transfer-syntax="
                                     "1.2.840.10008.1.2.4.50"] * 2
    assert all(body.startswith(b"\xff\xd8") for _, body in got)
    response = client.get(f"{url}/frames/3", headers={
        "Accept": "multipart/related; type=image/jp2"})
    [(content_type, body)] = parts(response)
    assert content_type == f"image/jp2; transfer-syntax={J2K}"
    assert body[:4] == b"\xff\x4f\xff\x51"  # a JPEG 2000 codestream

    data, ds = bundled_file("SC_rgb_rle_2frame.dcm")
    store(client, "", data)
    response = client.get(instance_url("", ds) + "/frames/2",
                          headers={"Accept": "application/octet-stream"})
    assert response.get_data() == read(data).pixel_array[1].tobytes()

    data, ds = bundled_file("CT_small.dcm")  # no NumberOfFrames: one frame
    store(client, "", data)
    response = client.get(instance_url("", ds) + "/frames/2")
    assert response.status_code == 404


def test_retrieve_frames_without_pixel_data_returns_404(client, base):
    ds = make_dataset(pixels=False)
    store(client, base, ds)
    response = client.get(instance_url(base, ds) + "/frames/1")
    assert (response.status_code, response.get_data()) == (
        404, b"The specified frame cannot be found.")


def test_retrieve_frames_of_truncated_pixel_data_returns_404(make_app):
    client = make_app().test_client()
    ds = make_dataset(frames=2, PixelData=b"\x00\x01")  # stored as sent, shorter than declared
    assert store(client, "", ds).status_code == 200
    for accept in ("application/octet-stream; transfer-syntax=*",
                   'multipart/related; type="application/octet-stream"'):
        response = client.get(instance_url("", ds) + "/frames/2", headers={"Accept": accept})
        assert (response.status_code, response.get_data()) == (
            404, b"The specified frame cannot be found."), accept


def test_retrieve_missing_blob_returns_500_generic(make_app, caplog):
    app = make_app()
    client = app.test_client()
    ds = make_dataset()
    store(client, "", ds)
    blobs = app.extensions["dicom_blobs"]
    for key in list(blobs.keys()):
        remove_behind_the_index(blobs, key)
    for suffix in ("", "/frames/1", "/rendered", "/bulkdata/7FE00010"):
        response = client.get(instance_url("", ds) + suffix)
        assert response.status_code == 500, suffix
        assert response.get_data().decode().startswith("The server encountered an internal error.")
        assert b"Traceback" not in response.get_data()
    assert "missing from the blob store" in caplog.text


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_retrieve_same_uids_in_two_partitions_returns_own_bytes(make_app, partition_mode):
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    a = make_dataset(PatientID="A")
    b = make_dataset(study_uid=a.StudyInstanceUID, series_uid=a.SeriesInstanceUID,
                     sop_uid=a.SOPInstanceUID, PatientID="B")
    assert store(client, "/partitions/A", a).status_code == 200
    assert store(client, "/partitions/B", b).status_code == 200
    for name, ds in (("A", a), ("B", b)):
        url = instance_url(f"/partitions/{name}", ds)
        response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.get_data() == to_bytes(ds)
        [(_, body)] = parts(client.get(f"/partitions/{name}/studies/{ds.StudyInstanceUID}"))
        assert read(body).PatientID == name
        assert client.get(url + "/metadata").get_json()[0]["00100020"]["Value"] == [name]
    response = client.get(f"/v2/partitions/Nope/studies/{a.StudyInstanceUID}")
    assert response.get_data() == b"Specified PartitionName does not exist."


@pytest.mark.parametrize("partition_mode", ["partitioned"])
def test_retrieve_finds_the_partition_in_any_case_and_a_missing_one_comes_first(
        make_app, partition_mode):
    """The reads find the partition by name in their own statement (issue #23): any spelling
    of the name works, and a partition that does not exist is the answer whatever else is
    wrong with the request (UID, Accept, missing instance), as when the hook looked it up."""
    client = make_app(ENABLE_DATA_PARTITIONS=True).test_client()
    ds = make_dataset()
    assert store(client, "/partitions/SiteA", ds).status_code == 200
    for name in ("SiteA", "sitea", "SITEA"):
        url = instance_url(f"/partitions/{name}", ds)
        response = client.get(url, headers={"Accept": "application/dicom; transfer-syntax=*"})
        assert response.get_data() == to_bytes(ds)
        study = f"/partitions/{name}/studies/{ds.StudyInstanceUID}"
        assert len(parts(client.get(study))) == 1
        assert client.get(f"{study}/metadata").get_json()[0]["00100020"]["Value"] == [
            ds.PatientID]
        assert client.get(f"/partitions/{name}/studies/{uid()}").status_code == 404
        one = instance_url(f"/partitions/{name}", ds)
        assert client.get(f"{one}/frames/1").status_code == 200
        assert client.get(f"{one}/rendered").status_code == 200
        assert client.get(f"{one}/bulkdata/7FE00010").status_code == 200
        assert client.get(f"{one}/frames/2").status_code == 404
    missing = f"/partitions/Nope/studies/{ds.StudyInstanceUID}"
    nowhere = instance_url("/partitions/Nope", ds)
    for path, accept in ((missing, None), (f"{missing}/metadata", None),
                         (f"{nowhere}/frames/1", None), (f"{nowhere}/frames/0", None),
                         (f"{nowhere}/rendered", None), (f"{nowhere}/rendered", "text/plain"),
                         (f"{nowhere}/frames/1/rendered", None),
                         (f"{nowhere}/bulkdata/7FE00010", None),
                         ("/partitions/Nope/studies/not..a..uid", None),
                         (f"{missing}/metadata", "image/png"), (missing, "text/plain"),
                         (instance_url("/partitions/Nope", ds), None)):
        response = client.get(path, headers={"Accept": accept} if accept else {})
        assert response.status_code == 400, (path, accept)
        assert response.get_data() == b"Specified PartitionName does not exist.", (path, accept)


def test_retrieve_racing_a_delete_returns_404_not_500(make_app, monkeypatch):
    """The index lookup happened before a concurrent delete removed the row and the file."""
    from app.dao import retrieve as retrieve_dao

    app = make_app()
    client = app.test_client()
    ds = make_dataset()
    assert store(client, "", ds).status_code == 200
    path = (f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}")
    real = retrieve_dao.list_instances
    with app.app_context():
        from app.api.edge import get_db

        stale = real(get_db(), "Microsoft.Default", ds.StudyInstanceUID, ds.SeriesInstanceUID,
                     ds.SOPInstanceUID)
    assert client.delete(path).status_code == 204
    calls = []

    def racing(*args, **kwargs):  # first lookup: the rows as they were before the delete
        calls.append(1)
        return stale if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(retrieve_dao, "list_instances", racing)
    response = client.get(path, headers={"Accept": "application/dicom; transfer-syntax=*"})
    assert response.status_code == 404
    assert response.get_data(as_text=True) == "The specified instance cannot be found."
    assert len(calls) == 2
