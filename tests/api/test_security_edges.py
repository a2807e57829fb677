"""The HTTP edges of issue #16: CORS, trusted absolute URLs, and settings that stop startup."""
from __future__ import annotations

import json

import pytest

from app import StartupError
from app.config import resolve
from tests.api.helpers import store, values
from tests.api.security_support import bearer, challenge, secure_app
from tests.dicom_factory import make_dataset

ORIGIN = "https://viewer.example"
CORS = {"CORS_ORIGINS": f"{ORIGIN}, https://other.example", "CORS_HEADERS": "Authorization,Accept",
        "CORS_METHODS": "GET,POST", "CORS_MAX_AGE": "600"}


def test_cors_is_off_by_default(client, base):
    response = client.get(f"{base}/studies", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Cross-Origin-Resource-Policy" not in response.headers


def test_preflight_is_answered_before_authentication(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True, **CORS).test_client()
    response = client.options("/partitions/SiteA/studies?bad=<", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization, accept"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Methods"] == "GET"
    assert response.headers["Access-Control-Allow-Headers"] == "authorization, accept"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert "Access-Control-Allow-Credentials" not in response.headers
    for refused in ({"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
                    {"Origin": ORIGIN, "Access-Control-Request-Method": "DELETE"},
                    {"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Headers": "x-secret"}):
        response = client.options("/partitions/SiteA/studies", headers=refused)
        assert response.status_code == 204
        assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_headers_on_responses_and_errors(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True, **CORS,
                        CORS_ALLOW_CREDENTIALS=True).test_client()
    response = client.get("/partitions/SiteA/studies", headers={"Origin": ORIGIN})
    assert response.status_code == 401  # readable by the viewer: it must log in
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Access-Control-Expose-Headers"] == (
        "Location, Content-Location, ETag, Warning, erroneous-dicom-attributes, "
        "WWW-Authenticate, Retry-After")  # the viewer reads why its token was refused
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert "Origin" in response.headers["Vary"]
    response = client.get("/partitions/SiteA/studies", headers={
        "Origin": "https://evil.example", **bearer(idp.token(["admin"]))})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_preflight_with_cors_off_is_answered_unauthenticated(make_app, idp, partition_mode, base,
                                                             tmp_path):
    """The reference's CORS middleware runs with its empty default policy too: 204 without
    CORS headers, before authentication and the audit log."""
    audit_file = tmp_path / "audit.log"
    client = secure_app(make_app, idp, partitioned=partition_mode == "partitioned",
                        AUDIT_LOG_FILE=str(audit_file)).test_client()
    response = client.options(f"{base}/studies", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization"})
    assert response.status_code == 204
    assert response.data == b""
    assert "WWW-Authenticate" not in response.headers
    assert not [key for key in response.headers.keys() if key.startswith("Access-Control-")]
    assert "Cross-Origin-Resource-Policy" not in response.headers
    assert not audit_file.exists() or audit_file.read_text() == ""


def test_preflights_are_not_audited(make_app, idp, tmp_path):
    audit_file = tmp_path / "audit.log"
    client = secure_app(make_app, idp, partitioned=True, **CORS,
                        AUDIT_LOG_FILE=str(audit_file)).test_client()
    response = client.options("/partitions/SiteA/studies", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "GET"})
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert client.get("/partitions/SiteA/studies").status_code == 401
    lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [(line["method"], line["status"]) for line in lines] == [("GET", 401)]


def test_plain_options_is_method_not_allowed(make_app, idp, client, base):
    """An OPTIONS that is no preflight is a method the route lacks (the reference's routing):
    405 with an empty body, unauthenticated; never Flask's automatic 200 with an HTML type."""
    response = client.options(f"{base}/studies", headers={"Origin": ORIGIN})
    assert response.status_code == 405
    assert response.data == b""
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert "OPTIONS" not in response.headers["Allow"]
    assert "OPTIONS" not in client.put(f"{base}/studies").headers["Allow"]
    secured = secure_app(make_app, idp, partitioned=True, **CORS).test_client()
    response = secured.options("/partitions/SiteA/studies", headers={"Origin": ORIGIN})
    assert response.status_code == 405
    assert "WWW-Authenticate" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_any_origin(make_app, partition_mode):
    client = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                      CORS_ORIGINS="*", CORS_METHODS="*", CORS_HEADERS="*").test_client()
    response = client.options("/studies", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "Authorization"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization"
    response = client.get("/health/check", headers={"Origin": ORIGIN})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_public_base_url_makes_every_absolute_url(make_app, partition_mode, base):
    public = "https://pacs.example:8443/dicom"
    client = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned",
                      PUBLIC_BASE_URL=f"{public}/").test_client()
    dataset = make_dataset()
    response = store(client, base, dataset, headers={"Host": "attacker.example"})
    assert _retrieve_url(response).startswith(
        f"https://pacs.example:8443/dicom{base}/studies/{dataset.StudyInstanceUID}/series/")
    response = client.post("/v1/extendedquerytags", data=b'[{"path":"00101010","vr":"AS",'
                           b'"level":"study"}]', headers={"Content-Type": "application/json",
                                                          "X-Forwarded-Host": "attacker.example"})
    assert response.headers["Location"].startswith(f"{public}/v1/operations/")
    assert response.json["href"] == response.headers["Location"]
    operation = client.get(response.headers["Location"][len(public):])
    assert operation.headers["Location"] == response.headers["Location"]
    study = dataset.StudyInstanceUID
    metadata = client.get(f"{base}/studies/{study}/metadata", headers={"Host": "evil.example"})
    assert metadata.json[0]["7FE00010"]["BulkDataURI"].startswith(f"{public}{base}/studies/")


def _retrieve_url(response) -> str:
    """The RetrieveURL of the first stored instance."""
    return values(values(response.json, "00081199")[0], "00081190")[0]


def test_forwarded_headers_only_from_trusted_proxies(make_app, tmp_path):
    forwarded = {"X-Forwarded-Host": "pacs.example", "X-Forwarded-Proto": "https",
                 "X-Forwarded-For": "203.0.113.9"}
    dataset = make_dataset()
    plain = make_app().test_client()
    response = store(plain, "", dataset, headers=forwarded)
    assert _retrieve_url(response).startswith("http://localhost/studies/")
    audit_file = tmp_path / "audit.log"
    proxied = make_app(TRUSTED_PROXIES=1, AUDIT_LOG=True,
                       AUDIT_LOG_FILE=str(audit_file)).test_client()
    response = store(proxied, "", make_dataset(), headers=forwarded)
    assert _retrieve_url(response).startswith("https://pacs.example/studies/")
    assert json.loads(audit_file.read_text())["client"] == "203.0.113.9"


@pytest.mark.parametrize("overrides, message", [
    ({"SECURITY_AUTHORITY": ""}, "DICOM_SECURITY_AUTHORITY is not set"),
    ({"SECURITY_AUDIENCE": ""}, "DICOM_SECURITY_AUDIENCE is not set"),
    ({"SECURITY_REQUIRE_HTTPS_METADATA": True}, "must be an https:// URL"),
    ({"SECURITY_ROLES_FILE": "/nonexistent/roles.json"}, "Error validating roles"),
    ({"CORS_ORIGINS": "*", "CORS_ALLOW_CREDENTIALS": True}, "cannot be combined"),
    ({"PUBLIC_BASE_URL": "pacs.example"}, "DICOM_PUBLIC_BASE_URL must be"),
])
def test_settings_that_stop_startup(make_app, idp, overrides, message):
    with pytest.raises(StartupError, match=message):
        secure_app(make_app, idp, partitioned=False, SKIP_STARTUP=True, **overrides)


def test_reference_setting_names():
    settings = resolve({"DicomServer__Security__Enabled": "true",
                        "DicomServer__Security__Authentication__Authority": "https://idp",
                        "DicomServer__Security__Authentication__Audience": "api",
                        "DicomServer__Security__Authorization__Enabled": "true",
                        "DicomServer__Security__Authorization__RolesClaim": "role"})
    assert (settings["SECURITY_ENABLED"], settings["SECURITY_AUTHORITY"],
            settings["SECURITY_AUDIENCE"], settings["SECURITY_AUTHORIZATION_ENABLED"],
            settings["SECURITY_ROLES_CLAIM"]) == (True, "https://idp", "api", True, "role")
    assert resolve({})["SECURITY_ENABLED"] is False


def test_shipped_roles(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True, SECURITY_ROLES_FILE=None).test_client()
    reader, writer = bearer(idp.token(["globalReader"])), bearer(idp.token(["GLOBALWRITER"]))
    assert store(client, "/partitions/SiteA", make_dataset(), headers=reader).status_code == 403
    assert store(client, "/partitions/SiteA", make_dataset(), headers=writer).status_code == 200
    assert client.get("/partitions/SiteA/studies", headers=reader).status_code == 200
    response = client.delete("/partitions/SiteA/studies/1.2.3", headers=writer)
    assert response.status_code == 403
    response = client.delete("/partitions/SiteA/studies/1.2.3",
                             headers=bearer(idp.token(["globalAdmin"])))
    assert response.status_code == 404
    assert client.get("/partitions").headers["WWW-Authenticate"] == challenge(idp)
