"""Conformance gaps of issue #21 (reference §3.4, §3.6, §5.3), each through the HTTP API on
both databases and both partition modes."""
from __future__ import annotations

from tests.api.helpers import DICOM_JSON, store
from tests.api.workitem_support import create
from tests.dicom_factory import make_dataset, multipart


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
