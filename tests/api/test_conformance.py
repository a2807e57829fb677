"""Conformance gaps of issue #21 (reference §3.4, §3.6, §5.3), each through the HTTP API on
both databases and both partition modes."""
from __future__ import annotations

import pytest

from tests.api.helpers import DICOM_JSON, store
from tests.api.stow_support import comments, failed, failure_reasons
from tests.api.workitem_support import create
from tests.dicom_factory import make_dataset, multipart, uid


def _assert_no_content(response) -> None:
    assert response.status_code == 204, response.get_data(as_text=True)
    assert "Content-Type" not in response.headers
    assert response.get_data() == b""


def test_every_204_has_no_content_type(client, base):
    accept = {"Accept": DICOM_JSON}
    _assert_no_content(client.get("/changefeed/latest"))
    body, content_type = multipart([])
    _assert_no_content(client.post(f"{base}/studies", data=body,
                                   headers={"Content-Type": content_type, **accept}))
    ds = make_dataset()
    assert store(client, base, ds, headers=accept).status_code == 200
    _assert_no_content(client.get(f"{base}/studies?PatientID=nobody", headers=accept))
    _assert_no_content(client.get(f"{base}/series?Modality=XX", headers=accept))
    assert create(client, base).status_code == 201
    _assert_no_content(client.get(f"{base}/workitems?PatientID=nobody", headers=accept))
    _assert_no_content(client.delete(f"{base}/studies/{ds.StudyInstanceUID}"))


@pytest.mark.parametrize("keyword,tag", [("StudyInstanceUID", "0020,000d"),
                                         ("SeriesInstanceUID", "0020,000e"),
                                         ("SOPInstanceUID", "0008,0018")])
def test_multi_valued_identifier_fails_43264(client, base, keyword, tag):
    ds = make_dataset()
    setattr(ds, keyword, [uid(), uid()])
    response = store(client, base, ds)
    assert response.status_code == 409, response.get_data(as_text=True)
    assert failure_reasons(response.json) == [43264]
    assert comments(failed(response.json)[0]) == [
        f"DICOM100: ({tag}) - Dicom element '{keyword}' failed validation for VR 'UI': Value "
        "contains more than one value."]
    assert client.get("/changefeed").json == []  # nothing stored
