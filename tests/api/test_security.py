"""Security beyond the route matrix: partition isolation, authorization off, key rotation,
issuer outages, anonymous routes, the roles claim, and the audit log (issue #16)."""
from __future__ import annotations

import json
import time

from tests.api.helpers import store
from tests.api.security_support import FORBIDDEN, bearer, challenge, secure_app
from tests.dicom_factory import make_dataset, uid
from tests.identity_provider import LocalIdentityProvider


def _studies(client, path, token):
    response = client.get(path, headers=bearer(token))
    return response.status_code, response.data if response.status_code == 403 else None


def test_partition_scope_is_enforced_on_the_stored_name(make_app, idp):
    app = secure_app(make_app, idp, partitioned=True)
    client = app.test_client()
    admin = bearer(idp.token(["admin"]))
    assert store(client, "/partitions/SiteA", make_dataset(), headers=admin).status_code == 200
    site_b = idp.token(["siteB"])
    for path in ("/partitions/SiteA/studies", "/partitions/sitea/studies",
                 "/v1/partitions/SITEA/studies", "/v2/partitions/Site%41/studies",
                 "/v1.0-prerelease/partitions/siteA/studies",
                 "/partitions/Unknown/studies"):  # a partition that does not exist yet
        assert _studies(client, path, site_b) == (403, FORBIDDEN), path
    site_a = idp.token(["siteA"])
    assert client.get("/partitions/sitea/studies", headers=bearer(site_a)).status_code == 200
    # A role scoped as '/partitions/sitea' in the roles file covers the stored 'SiteA'.
    assert client.get("/v2/partitions/SITEA/studies",
                      headers=bearer(idp.token(["siteAReader"]))).status_code == 200
    # An unknown partition in the caller's scope: the reference's 400, not a 403.
    response = client.get("/partitions/SiteB/studies", headers=bearer(site_b))
    assert (response.status_code, response.data) == (400, b"Specified PartitionName does not "
                                                           b"exist.")


def test_scoped_writer_creates_its_own_partition_only(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True).test_client()
    site_a = bearer(idp.token(["siteA"]))
    assert store(client, "/partitions/SiteC", make_dataset(), headers=site_a).status_code == 403
    assert store(client, "/partitions/sitea", make_dataset(), headers=site_a).status_code == 200
    admin = bearer(idp.token(["admin"]))
    assert store(client, "/partitions/SiteB", make_dataset(), headers=admin).status_code == 200
    names = [p["partitionName"] for p in client.get("/partitions", headers=site_a).json]
    assert names == ["sitea"]  # its own only (stored as first written)
    everything = [p["partitionName"] for p in client.get("/partitions", headers=admin).json]
    assert everything == ["Microsoft.Default", "sitea", "SiteB"]
    # Its own change feed, but not the global one; no tag management, no operations.
    assert client.get("/partitions/SiteA/changefeed", headers=site_a).status_code == 200
    for path in ("/changefeed", "/v2/changefeed/latest", "/extendedquerytags",
                 "/operations/00000000000000000000000000000000"):
        response = client.get(path, headers=site_a)
        assert (response.status_code, response.data) == (403, FORBIDDEN), path


def test_partitioned_lookup_needs_read_as_in_the_reference(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True).test_client()
    path = f"/partitions/Microsoft.Default/studies/{uid()}"
    response = client.delete(path, headers=bearer(idp.token(["deleter"])))
    assert (response.status_code, response.data) == (403, FORBIDDEN)
    response = client.delete(path, headers=bearer(idp.token(["deleter", "reader"])))
    assert response.status_code == 404


def test_plain_mode_scopes_name_the_default_partition(make_app, idp):
    client = secure_app(make_app, idp, partitioned=False).test_client()
    default = bearer(idp.token(["defaultPartition"]))
    assert store(client, "", make_dataset(), headers=default).status_code == 200
    assert client.get("/studies", headers=default).status_code == 200
    assert client.get("/studies", headers=bearer(idp.token(["siteA"]))).status_code == 403
    assert client.get("/changefeed", headers=default).status_code == 403  # global: scope '/'


def test_authorization_off_lets_any_valid_token_do_everything(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True,
                        SECURITY_AUTHORIZATION_ENABLED=False).test_client()
    token = bearer(idp.token())  # no roles at all
    assert store(client, "/partitions/SiteA", make_dataset(), headers=token).status_code == 200
    assert client.get("/extendedquerytags", headers=token).status_code == 200
    response = client.get("/partitions/SiteA/studies", headers=bearer("x.y.z"))
    assert response.status_code == 401


def test_key_rotation_needs_no_restart(make_app):
    provider = LocalIdentityProvider()
    try:
        client = secure_app(make_app, provider, partitioned=True).test_client()
        assert client.get("/partitions", headers=bearer(provider.token(["admin"]))).status_code \
            == 200
        fetched = provider.jwks_requests
        new_kid = provider.add_key("EC")  # rotated to an ES256 key
        token = provider.token(["admin"], kid=new_kid)
        assert client.get("/partitions", headers=bearer(token)).status_code == 200
        assert provider.jwks_requests == fetched + 1
        # Cached now: no further fetch for either key.
        assert client.get("/partitions", headers=bearer(token)).status_code == 200
        assert client.get("/partitions",
                          headers=bearer(provider.token(["admin"]))).status_code == 200
        assert provider.jwks_requests == fetched + 1
    finally:
        provider.close()


def test_unknown_key_ids_do_not_refetch_within_the_cooldown(make_app):
    provider = LocalIdentityProvider()
    try:
        client = secure_app(make_app, provider, partitioned=True,
                            SECURITY_KEY_REFRESH_COOLDOWN_SECONDS=30).test_client()
        assert client.get("/partitions", headers=bearer(provider.token(["admin"]))).status_code \
            == 200
        fetched = provider.jwks_requests
        for _ in range(3):
            response = client.get("/partitions",
                                  headers=bearer(provider.token(["admin"], kid="forged")))
            assert response.status_code == 401
        assert provider.jwks_requests == fetched
    finally:
        provider.close()


def test_unreachable_issuer_answers_503_and_health_stays_anonymous(make_app, idp):
    provider = LocalIdentityProvider()
    token = provider.token(["admin"])
    provider.close()
    client = secure_app(make_app, provider, partitioned=True).test_client()
    response = client.get("/partitions", headers=bearer(token))
    assert (response.status_code, response.data) == (503, b"The service is unavailable.")
    assert client.get("/health/check").status_code == 200


def test_unmatched_routes_and_the_query_guard_come_before_authentication(make_app, idp):
    client = secure_app(make_app, idp, partitioned=True).test_client()
    assert client.get("/no/such/route").status_code == 404
    assert client.put("/partitions/SiteA/studies").status_code == 405
    response = client.get("/partitions/SiteA/studies?PatientName=%3Cx")
    assert (response.status_code, response.data) == (
        400, b"The query string included invalid characters.")
    response = client.get("/partitions/SiteA/studies", headers={"Authorization": "Basic eA=="})
    assert response.headers["WWW-Authenticate"] == challenge(idp)


def test_nested_roles_claim_and_entra_subject(make_app, idp, tmp_path):
    audit_file = tmp_path / "audit.log"
    client = secure_app(make_app, idp, partitioned=True, SECURITY_ROLES_CLAIM="realm_access.roles",
                        AUDIT_LOG_FILE=str(audit_file)).test_client()
    token = idp.token(None, realm_access={"roles": ["siteA"]}, oid="object-id-7")
    dataset = make_dataset()
    assert store(client, "/partitions/SiteA", dataset, headers=bearer(token)).status_code == 200
    response = client.get("/partitions/SiteA/studies?PatientName=Doe*",
                          headers=bearer(token))
    assert response.status_code == 200
    assert client.get("/partitions/SiteA/studies",
                      headers=bearer(idp.token(["siteA"]))).status_code == 403
    lines = [json.loads(line) for line in audit_file.read_text().splitlines()]
    assert [(x["method"], x["status"], x["action"]) for x in lines] == [
        ("POST", 200, "write"), ("GET", 200, "read"), ("GET", 403, "read")]
    assert lines[0]["subject"] == "object-id-7" and lines[2]["subject"] == "user-1"
    assert lines[0]["partition"] == "SiteA" and lines[0]["client"] == "127.0.0.1"
    assert lines[1]["route"] == "/partitions/<partition_name>/studies"
    assert set(lines[0]) == {"time", "subject", "client", "method", "route", "partition",
                             "study", "action", "status"}
    assert "Doe" not in audit_file.read_text()  # no query string, no patient data
    study = dataset.StudyInstanceUID
    client.get(f"/partitions/SiteA/studies/{study}/metadata", headers=bearer(token))
    last = json.loads(audit_file.read_text().splitlines()[-1])
    assert (last["study"], last["status"]) == (study, 200)


def test_a_validated_token_is_refused_once_it_expires(make_app, idp):
    """Validated tokens are cached; the cache keeps their expiry."""
    client = secure_app(make_app, idp, partitioned=True,
                        SECURITY_CLOCK_SKEW_SECONDS=0).test_client()
    token = idp.token(["admin"], exp=int(time.time()) + 2)
    assert client.get("/partitions", headers=bearer(token)).status_code == 200
    time.sleep(max(0.0, int(time.time()) + 2 - time.time()) + 0.05)
    response = client.get("/partitions", headers=bearer(token))
    assert response.status_code == 401
    assert "The token expired at" in response.headers["WWW-Authenticate"]
