"""QIDO-RS across partitions: ``GET [/vN]/partitions/*/...`` (issue #20, docs/api/partitions.md).

Every search form over every partition at once, with the single-partition search's matching,
paging and errors; each result names its partition (private element 0009,1001) and points into
it (RetrieveURL). Both databases (fixtures); partitions on unless a test says otherwise.
"""
from __future__ import annotations

import pytest

from app.worker import run_pending_once
from tests.api.helpers import DICOM_JSON, store, values
from tests.api.security_support import FORBIDDEN, bearer, secure_app
from tests.dicom_factory import make_dataset, uid

STUDY_UID, SERIES_UID, SOP_UID = "0020000D", "0020000E", "00080018"
RETRIEVE_URL, CREATOR, PARTITION = "00081190", "00090010", "00091001"
ALL = "/partitions/*"
JSON = {"Accept": DICOM_JSON}
INVALID_NAME = "The specified PartitionName is invalid. "


@pytest.fixture
def app(make_app):
    return make_app(ENABLE_DATA_PARTITIONS=True)


@pytest.fixture
def world(client):
    """Study S in SiteA (CT, 2 instances, PatientAge 045Y) and again, same UID, in SiteB (MR, 1
    instance); T in SiteC; U in SiteA, stored in that order (so newest first is U, T, S@B, S@A)."""
    s, t, u = uid(), uid(), uid()
    a1, b1, c1, u1 = uid(), uid(), uid(), uid()
    common = {"PatientID": "P-1", "StudyDate": "20240105"}
    stores = [
        ("SiteA", make_dataset(s, a1, PatientName="Doe^John", Modality="CT", PatientAge="045Y",
                               AccessionNumber="ACC-A", InstanceNumber=1, **common)),
        ("SiteA", make_dataset(s, a1, PatientName="Doe^John", Modality="CT", PatientAge="045Y",
                               AccessionNumber="ACC-A", InstanceNumber=2, **common)),
        ("SiteB", make_dataset(s, b1, PatientName="Doe^Johnny", Modality="MR",
                               PatientAge="050Y", AccessionNumber="ACC-B", **common)),
        ("SiteC", make_dataset(t, c1, PatientName="Smith^Anna", PatientID="P-2",
                               StudyDate="20230301", Modality="US", AccessionNumber="ACC-C")),
        ("SiteA", make_dataset(u, u1, PatientName="Brown^Bob", PatientID="P-3",
                               StudyDate="20220101", Modality="CT", AccessionNumber="ACC-U")),
    ]
    for partition, dataset in stores:
        response = store(client, f"/partitions/{partition}", dataset)
        assert response.status_code == 200, response.get_data(as_text=True)
    sops = [(str(d.SOPInstanceUID), p) for p, d in stores]
    return {"s": s, "t": t, "u": u, "a1": a1, "b1": b1, "c1": c1, "u1": u1, "sops": sops}


def _found(response, tag=STUDY_UID):
    """(UID at ``tag``, partition name) of each result, in order."""
    if response.status_code == 204:
        assert response.data == b""
        return []
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == DICOM_JSON
    return [(values(item, tag)[0], values(item, PARTITION)[0]) for item in response.json]


def test_every_search_form_covers_every_partition_newest_first(client, world):
    s, t, u = world["s"], world["t"], world["u"]
    assert _found(client.get(f"{ALL}/studies")) == [
        (u, "SiteA"), (t, "SiteC"), (s, "SiteB"), (s, "SiteA")]
    assert _found(client.get(f"{ALL}/series"), SERIES_UID) == [
        (world["u1"], "SiteA"), (world["c1"], "SiteC"), (world["b1"], "SiteB"),
        (world["a1"], "SiteA")]
    assert _found(client.get(f"{ALL}/instances"), SOP_UID) == world["sops"][::-1]
    assert _found(client.get(f"{ALL}/studies/{s}/series"), SERIES_UID) == [
        (world["b1"], "SiteB"), (world["a1"], "SiteA")]
    assert _found(client.get(f"{ALL}/studies/{s}/instances"), SOP_UID) == world["sops"][2::-1]
    response = client.get(f"{ALL}/studies/{s}/series/{world['a1']}/instances")
    assert _found(response, SOP_UID) == world["sops"][1::-1]
    assert _found(response) == [(s, "SiteA")] * 2  # path UIDs are returned
    assert client.get(f"{ALL}/studies/{uid()}/series").status_code == 204


@pytest.mark.parametrize("prefix", ["", "/v1", "/v1.0-prerelease", "/v2"])
def test_each_result_names_its_partition_and_points_into_it(client, world, prefix):
    for resource, depth in (("studies", 1), ("series", 2), ("instances", 3)):
        response = client.get(f"{prefix}{ALL}/{resource}")
        assert response.status_code == 200
        for item in response.json:
            partition = values(item, PARTITION)[0]
            assert item[CREATOR] == {"vr": "LO", "Value": ["DICOMWEB PARTITION"]}
            assert item[PARTITION] == {"vr": "LO", "Value": [partition]}
            uids = [values(item, STUDY_UID)[0], values(item, SERIES_UID)[:1],
                    values(item, SOP_UID)[:1]]
            path = f"{prefix}/partitions/{partition}/studies/{uids[0]}"
            if depth > 1:
                path += f"/series/{uids[1][0]}"
            if depth > 2:
                path += f"/instances/{uids[2][0]}"
            assert item[RETRIEVE_URL] == {"vr": "UR", "Value": [f"http://localhost{path}"]}
            # the URL reads this result from its own partition
            metadata = client.get(f"{path}/metadata", headers=JSON)
            assert metadata.status_code == 200
            assert {values(m, "00100010")[0]["Alphabetic"] for m in metadata.json} == {
                "Doe^John" if partition == "SiteA" and uids[0] == world["s"] else
                "Doe^Johnny" if partition == "SiteB" else
                "Smith^Anna" if partition == "SiteC" else "Brown^Bob"}
            # attributes stay in tag order
            assert list(item) == sorted(item)


def test_a_partitions_own_search_is_unchanged(client, world):
    [study, _] = client.get("/partitions/SiteA/studies").json
    assert RETRIEVE_URL not in study and PARTITION not in study and CREATOR not in study


@pytest.mark.parametrize("query, expected", [
    ("PatientID=P-1", {"s@SiteA", "s@SiteB"}),
    ("PatientName=doe^john", {"s@SiteA"}),
    ("PatientName=DOE*", {"s@SiteA", "s@SiteB"}),
    ("PatientName=johnn&fuzzymatching=true", {"s@SiteB"}),
    ("PatientName=john&fuzzymatching=true", {"s@SiteA", "s@SiteB"}),
    ("StudyDate=20230101-20231231", {"t@SiteC"}),
    ("StudyDate=-20221231", {"u@SiteA"}),
    ("AccessionNumber=ACC-B", {"s@SiteB"}),
    ("AccessionNumber=ACC-?", {"s@SiteA", "s@SiteB", "t@SiteC", "u@SiteA"}),
    ("StudyInstanceUID={s}", {"s@SiteA", "s@SiteB"}),
    ("StudyInstanceUID={t},{u}", {"t@SiteC", "u@SiteA"}),
    ("ModalitiesInStudy=MR", {"s@SiteB"}),
    ("ModalitiesInStudy=CT&PatientID=P-3", {"u@SiteA"}),
    ("PatientID=nobody", set()),
])
def test_study_matching_rules_across_partitions(client, world, query, expected):
    response = client.get(f"{ALL}/studies?{query.format(**world)}")
    names = {world[key]: key for key in ("s", "t", "u")}
    assert {f"{names[u]}@{p}" for u, p in _found(response)} == expected


def test_series_and_instance_matching_across_partitions(client, world):
    assert set(_found(client.get(f"{ALL}/series?Modality=CT"), SERIES_UID)) == {
        (world["a1"], "SiteA"), (world["u1"], "SiteA")}
    assert _found(client.get(f"{ALL}/series?PatientID=P-1&Modality=MR"), SERIES_UID) == [
        (world["b1"], "SiteB")]
    sop, partition = world["sops"][2]
    assert _found(client.get(f"{ALL}/instances?SOPInstanceUID={sop}"), SOP_UID) == [
        (sop, partition)]
    assert _found(client.get(f"{ALL}/studies/{world['s']}/instances?Modality=CT"),
                  SOP_UID) == world["sops"][1::-1]


def test_extended_query_tags_are_global_and_their_values_per_partition(app, client, world):
    assert client.post("/extendedquerytags",
                       json=[{"path": "PatientAge", "level": "Study"}]).status_code == 202
    assert run_pending_once(app) == 1
    assert _found(client.get(f"{ALL}/studies?PatientAge=045Y")) == [(world["s"], "SiteA")]
    assert _found(client.get(f"{ALL}/instances?PatientAge=050Y"), SOP_UID) == [
        world["sops"][2]]
    assert client.get(f"{ALL}/studies?PatientAge=001Y").status_code == 204


def test_extended_query_tag_errors_warn_as_in_one_partition(app, client):
    assert store(client, "/partitions/SiteA", make_dataset(PatientAge="5Y"),
                 prefix="/v1").status_code == 200
    good = make_dataset(PatientAge="045Y")
    assert store(client, "/partitions/SiteB", good).status_code == 200
    assert client.post("/extendedquerytags",
                       json=[{"path": "PatientAge", "level": "Study"}]).status_code == 202
    run_pending_once(app)
    disabled = client.get(f"{ALL}/studies?PatientAge=045Y")
    assert disabled.status_code == 400
    assert disabled.get_data(as_text=True) == (
        "Query is disabled on specified attribute 'PatientAge'.")
    client.patch("/extendedquerytags/PatientAge", json={"queryStatus": "Enabled"})
    response = client.get(f"{ALL}/studies?PatientAge=045Y")
    assert _found(response) == [(good.StudyInstanceUID, "SiteB")]
    assert response.headers["erroneous-dicom-attributes"] == "PatientAge"


def test_includefield_all_computes_per_partition(client, world):
    response = client.get(f"{ALL}/studies?StudyInstanceUID={world['s']}&includefield=all")
    by_partition = {values(item, PARTITION)[0]: item for item in response.json}
    assert set(by_partition) == {"SiteA", "SiteB"}
    assert values(by_partition["SiteA"], "00201208") == [2]  # NumberOfStudyRelatedInstances
    assert values(by_partition["SiteB"], "00201208") == [1]
    assert values(by_partition["SiteA"], "00080061") == ["CT"]  # ModalitiesInStudy
    assert values(by_partition["SiteB"], "00080061") == ["MR"]
    assert values(by_partition["SiteA"], "00101010") == ["045Y"]  # from the stored metadata
    assert values(by_partition["SiteB"], "00101010") == ["050Y"]
    series = client.get(f"{ALL}/series?includefield=NumberOfSeriesRelatedInstances"
                        f"&StudyInstanceUID={world['s']}")
    assert [(values(x, PARTITION)[0], values(x, "00201209")[0]) for x in series.json] == [
        ("SiteB", 1), ("SiteA", 2)]


def test_version_defaults_apply(client, world):
    v1 = client.get(f"/v1{ALL}/studies?PatientID=P-3").json[0]
    v2 = client.get(f"/v2{ALL}/studies?PatientID=P-3").json[0]
    assert "00080030" in v1 and "00080030" not in v2  # StudyTime: a v1 default only
    assert values(v1, RETRIEVE_URL)[0].startswith("http://localhost/v1/partitions/SiteA/")


def test_paging_across_partitions_has_no_duplicates_or_gaps(client):
    """Twelve studies over three partitions, two UIDs stored in each of them: every page size
    walks the whole list in the order of one unpaged search."""
    shared = [uid(), uid()]
    stored = []
    for index in range(12):
        partition = ["SiteA", "SiteB", "SiteC"][index % 3]
        study = shared[index % 2] if index < 6 else uid()
        assert store(client, f"/partitions/{partition}",
                     make_dataset(study, PatientID="PAGE")).status_code == 200
        stored.append((study, partition))
    full = _found(client.get(f"{ALL}/studies?PatientID=PAGE&limit=200"))
    assert full == stored[::-1]
    for limit in (1, 2, 3, 4, 7):
        pages, offset = [], 0
        while True:
            page = _found(client.get(f"{ALL}/studies?PatientID=PAGE&limit={limit}"
                                     f"&offset={offset}"))
            if not page:
                break
            assert len(page) <= limit
            pages.extend(page)
            offset += limit
        assert pages == full, limit
    instances = _found(client.get(f"{ALL}/instances?PatientID=PAGE&limit=200"), STUDY_UID)
    paged = []
    for offset in range(0, len(instances), 4):
        paged += _found(client.get(f"{ALL}/instances?PatientID=PAGE&limit=4&offset={offset}"),
                        STUDY_UID)
    assert paged == instances == full


def _same_answer(client, url, reference_url, headers=None):
    response = client.get(url, headers=headers or {})
    reference = client.get(reference_url, headers=headers or {})
    assert (response.status_code, response.get_data(as_text=True)) == (
        reference.status_code, reference.get_data(as_text=True))
    return response


@pytest.mark.parametrize("query", [
    "NotAKeyword=1", "PatientID=", "limit=0", "limit=201", "offset=-1", "StudyDate=2024",
    "includefield=all&includefield=PatientID", "PatientName=a%22b&fuzzymatching=true",
    "PatientID=1&PatientID=2", "SOPInstanceUID=1",
])
def test_query_errors_are_those_of_a_single_partition(client, world, query):
    response = _same_answer(client, f"{ALL}/studies?{query}",
                            f"/partitions/SiteA/studies?{query}")
    assert response.status_code == 400


def test_path_and_accept_errors_are_those_of_a_single_partition(client, world):
    assert _same_answer(client, f"{ALL}/studies/not..a..uid/series",
                        "/partitions/SiteA/studies/not..a..uid/series").status_code == 400
    assert _same_answer(client, f"{ALL}/studies/{world['s']}/series/x_y/instances",
                        f"/partitions/SiteA/studies/{world['s']}/series/x_y/instances"
                        ).status_code == 400
    assert _same_answer(client, f"{ALL}/studies", "/partitions/SiteA/studies",
                        {"Accept": "application/dicom"}).status_code == 406


@pytest.mark.parametrize("method, path", [
    ("POST", "/studies"), ("POST", "/studies/{s}"), ("GET", "/studies/{s}"),
    ("GET", "/studies/{s}/metadata"), ("GET", "/studies/{s}/series/{a1}"),
    ("DELETE", "/studies/{s}"), ("DELETE", "/studies/{s}/series/{a1}"),
    ("GET", "/changefeed"), ("GET", "/workitems"), ("POST", "/workitems"),
])
def test_only_searches_read_across_partitions(client, world, method, path):
    """Every other route under /partitions/* answers the reference's invalid-name 400 (and
    nothing is stored or deleted)."""
    response = client.open(f"/v2{ALL}{path.format(**world)}", method=method, headers=JSON)
    assert (response.status_code, response.get_data(as_text=True)) == (400, INVALID_NAME)
    assert len(_found(client.get(f"{ALL}/instances"), SOP_UID)) == 5


@pytest.mark.parametrize("path", ["/studies", "/v1/partitions/*/series", "/instances",
                                  "/studies/1.2.3/series", "/studies/1.2.3/instances",
                                  "/studies/1.2.3/series/1.2.4/instances"])
def test_with_partitions_off_star_answers_feature_disabled(make_app, path):
    client = make_app(ENABLE_DATA_PARTITIONS=False).test_client()
    url = path if path.startswith("/v1") else f"{ALL}{path}"
    response = client.get(url)
    assert (response.status_code, response.get_data(as_text=True)) == (
        400, "Data partitions feature is disabled.")
    assert client.post(f"{ALL}/studies").get_data(as_text=True) == (
        "Data partitions feature is disabled.")


def test_search_across_partitions_needs_read_in_scope_root(make_app, idp):
    app = secure_app(make_app, idp, partitioned=True)
    client = app.test_client()
    admin = bearer(idp.token(["admin"]))
    for partition in ("SiteA", "SiteB"):
        assert store(client, f"/partitions/{partition}", make_dataset(),
                     headers=admin).status_code == 200
    reader = client.get(f"{ALL}/studies", headers=bearer(idp.token(["reader"])))
    assert sorted(values(x, PARTITION)[0] for x in reader.json) == ["SiteA", "SiteB"]
    for roles in (["siteAReader"], ["siteA", "siteB"], ["writer"], []):
        response = client.get(f"{ALL}/studies", headers=bearer(idp.token(roles)))
        assert (response.status_code, response.data) == (403, FORBIDDEN), roles
        # reading one partition is still allowed where granted
    assert client.get("/partitions/SiteA/studies",
                      headers=bearer(idp.token(["siteAReader"]))).status_code == 200
    assert client.get(f"{ALL}/studies").status_code == 401
