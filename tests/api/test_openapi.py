"""``GET [/vN]/openapi.json`` and ``/docs/`` (#22): valid OpenAPI 3.1, every route documented."""
from __future__ import annotations

import re
from collections import defaultdict

import pytest
from openapi_spec_validator import validate

from app.api.openapi import (UNDOCUMENTED_ENDPOINTS, base_endpoint, methods_of, openapi_path,
                             rules_under)
from app.api.route_docs import ROUTES
from app.partitioning import BASE_PREFIXES

PREFIXES = [prefix for prefix, _, _ in BASE_PREFIXES]


@pytest.fixture(params=[False, True], ids=["partitions-off", "partitions-on"])
def docs_app(request, make_app):
    return make_app(ENABLE_DATA_PARTITIONS=request.param)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_every_prefix_is_a_valid_openapi_31_document(docs_app, backend):
    client = docs_app.test_client()
    for prefix in PREFIXES:
        response = client.get(f"{prefix}/openapi.json")
        assert response.status_code == 200, prefix
        assert response.content_type == "application/json"
        document = response.json
        assert document["openapi"] == "3.1.0"
        assert document["servers"] == [{"url": prefix or "/"}]
        validate(document)
        assert {"Partition", "ChangeFeedEntry", "ExtendedQueryTag", "Operation"} <= set(
            document["components"]["schemas"])


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_documents_every_route_of_the_url_map(docs_app, backend):
    """Every rule of app.url_map (less a feature that is off) is in its prefix's document,
    with its methods, and has a ROUTES entry and a view docstring."""
    client = docs_app.test_client()
    documents = {prefix: client.get(f"{prefix}/openapi.json").json for prefix in PREFIXES}
    problems = []
    for rule in docs_app.url_map.iter_rules():
        if rule.endpoint in UNDOCUMENTED_ENDPOINTS:
            continue
        route = f"{'/'.join(methods_of(rule))} {rule.rule} (endpoint {rule.endpoint})"
        if base_endpoint(rule.endpoint) not in ROUTES:
            problems.append(f"{route} is undocumented: add a line for "
                            f"'{base_endpoint(rule.endpoint)}' to ROUTES in "
                            "app/api/route_docs.py")
        doc = ROUTES.get(base_endpoint(rule.endpoint))
        if not ((docs_app.view_functions[rule.endpoint].__doc__ or "").strip()
                or (doc is not None and doc.summary)):
            problems.append(f"{route}: its view has no docstring (the summary)")
        for prefix in PREFIXES:
            for documented, path in rules_under(docs_app, prefix):
                if documented is rule:
                    operations = documents[prefix]["paths"].get(openapi_path(path), {})
                    for method in methods_of(rule):
                        if method.lower() not in operations:
                            problems.append(f"{route} is missing from {prefix or '/'}"
                                            "openapi.json")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_no_two_paths_differ_only_in_parameter_names(docs_app, backend):
    paths = docs_app.test_client().get("/openapi.json").json["paths"]
    shapes = defaultdict(list)
    for path in paths:
        shapes[re.sub(r"\{[^}]+\}", "{}", path)].append(path)
    assert [group for group in shapes.values() if len(group) > 1] == []


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_partition_routes_only_when_the_feature_is_on(make_app, backend):
    off = make_app().test_client().get("/v2/openapi.json").json["paths"]
    on = make_app(ENABLE_DATA_PARTITIONS=True).test_client().get("/v2/openapi.json").json
    assert not [path for path in off if path.startswith("/partitions")]
    assert "/partitions" in on["paths"]
    assert "/partitions/{partition_name}/studies" in on["paths"]
    assert set(on["paths"]["/partitions/{partition_name}/studies"]) == {"get", "post"}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_metrics_documented_only_when_served(make_app, backend):
    assert "/metrics" in make_app().test_client().get("/openapi.json").json["paths"]
    off = make_app(METRICS_ENABLED=False).test_client().get("/openapi.json").json["paths"]
    assert "/metrics" not in off
    assert "/metrics" not in make_app().test_client().get("/v2/openapi.json").json["paths"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_stow_operation_has_media_types_and_status_codes(make_app, backend):
    paths = make_app().test_client().get("/v2/openapi.json").json["paths"]
    post = paths["/studies/{study}"]["post"]
    assert post["summary"].startswith("Store instances of one study")
    assert set(post["requestBody"]["content"]) == {
        "application/dicom", 'multipart/related; type="application/dicom"'}
    assert {"200", "202", "409", "415"} <= set(post["responses"])
    assert post["parameters"][0]["name"] == "study"
    search = paths["/studies"]["get"]
    assert {"limit", "offset", "includefield"} <= {p["name"] for p in search["parameters"]}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_docs_page_is_served_from_the_package_without_a_cdn(make_app, backend):
    client = make_app().test_client()
    page = client.get("/docs/")
    assert page.status_code == 200
    assert client.get("/docs").get_data() == page.get_data()
    html = page.get_data(as_text=True)
    assert '"/openapi.json"' in html
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(source.startswith("/docs/") for source in sources), sources
    for source in sources:
        assert client.get(source).status_code == 200, source


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_openapi_with_security_on_describes_the_bearer_scheme(make_app, backend):
    client = make_app(SECURITY_ENABLED=True, SECURITY_AUTHORITY="http://127.0.0.1:9/idp",
                      SECURITY_AUDIENCE="dicom",
                      SECURITY_REQUIRE_HTTPS_METADATA=False).test_client()
    document = client.get("/openapi.json").json  # anonymous
    validate(document)
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/health/check"]["get"]["security"] == []
    assert "security" not in document["paths"]["/studies"]["get"]
    assert "/metrics" not in document["paths"]  # not served: no DICOM_METRICS_TOKEN
