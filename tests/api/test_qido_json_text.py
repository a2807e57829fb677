"""QIDO-RS response text (issue #5): the body is written from fragments, not by serialising
dicts, so pin that it is exactly the compact ``json.dumps`` text of the datasets (decisions §6,
"QIDO-RS (#5)"), for every kind of source: index columns (strings, numbers, person names with
component groups, escaped characters), computed attributes and stored metadata."""
from __future__ import annotations

import json

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset, uid


def _body(response) -> list:
    """The datasets, after checking the body is their canonical compact JSON text."""
    assert response.status_code == 200, response.get_data(as_text=True)
    text = response.get_data(as_text=True)
    datasets = json.loads(text)
    assert text == json.dumps(datasets, separators=(",", ":"), ensure_ascii=False)
    return datasets


def test_search_index_values_with_special_characters_return_exact_json(make_app):
    client = make_app().test_client()
    study, series = uid(), uid()
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "P1", "DCM", 'Say "hi" ü'
    first = make_dataset(study, series, SpecificCharacterSet="ISO_IR 192",
                         PatientName="Yamada^Tarou=山田^太郎=やまだ^たろう",
                         ReferringPhysicianName="=Ref^Only", StudyDescription='Brain "ax" ü',
                         SeriesNumber=12, InstanceNumber=3, Modality="MR",
                         ProcedureCodeSequence=Sequence([code]))
    second = make_dataset(study, uid(), Modality="CT", PatientName=first.PatientName,
                          ReferringPhysicianName="=Ref^Only", SpecificCharacterSet="ISO_IR 192",
                          StudyDescription=first.StudyDescription,
                          ProcedureCodeSequence=Sequence([code]))
    assert store(client, "", first, second).status_code in (200, 202)

    [found] = _body(client.get("/studies?includefield=all"))
    assert values(found, "00100010") == [{"Alphabetic": "Yamada^Tarou", "Ideographic": "山田^太郎",
                                          "Phonetic": "やまだ^たろう"}]
    assert values(found, "00080090") == [{"Ideographic": "Ref^Only"}]
    assert values(found, "00081030") == ['Brain "ax" ü']
    assert values(found, "00080061") == ["CT", "MR"]  # ModalitiesInStudy (computed)
    assert values(found, "00201206") == [2] and values(found, "00201208") == [2]
    # ProcedureCodeSequence, from the stored metadata of the newest instance
    [item] = values(found, "00081032")
    assert values(item, "00080104") == ['Say "hi" ü']

    [instance] = _body(client.get(f"/v1/studies/{study}/series/{series}/instances?"
                                  "includefield=00200011&includefield=00201209"))
    assert values(instance, "00200013") == [3]  # IS from the index: a JSON number
    assert values(instance, "00200011") == [12]
    assert values(instance, "00201209") == [1]  # NumberOfSeriesRelatedInstances
    _body(client.get("/v1/series?includefield=all"))
    _body(client.get("/instances?PatientName=yamada*"))
