"""Every route x every kind of caller, with a real identity provider (issue #16).

One app per backend and partition mode sends each route one request per kind of caller: no
token, bad tokens of each kind (401 with the reference's challenge), the wrong role or the
wrong partition scope (403 ``Authorization failed.``), and the right role (the route's own
status). The route table must list every URL rule, so a new route cannot be forgotten.
"""
from __future__ import annotations

import time


from app.security import routes
from app.security.actions import ACTION_NAMES
from tests.api.helpers import store
from tests.api.security_support import (ALL_BUT, ANONYMOUS_CASES, CASES, FORBIDDEN, ROLE_FOR,
                                        bearer, challenge, secure_app, send)
from tests.dicom_factory import make_dataset, uid
from tests.identity_provider import new_key

INVALID = ', error="invalid_token"'


def test_every_url_rule_has_a_data_action(make_app, partition_mode):
    """Default-deny: a rule missing from app/security/routes.py fails here."""
    app = make_app(ENABLE_DATA_PARTITIONS=partition_mode == "partitioned", SKIP_STARTUP=True)
    missing = sorted({rule.endpoint for rule in app.url_map.iter_rules()
                      if routes.rule_for(rule.endpoint) is None})
    assert missing == []


def test_partition_scoped_routes_check_the_partition_they_resolve(make_app):
    """A route whose action is checked per partition must go through the partition router's
    hook (app/partitioning.py scope()), which makes that check."""
    app = make_app(ENABLE_DATA_PARTITIONS=True, SKIP_STARTUP=True)
    unchecked, checked = [], 0
    for rule in app.url_map.iter_rules():
        route = routes.rule_for(rule.endpoint)
        if route is None or route.scope != routes.PARTITION:
            continue
        checked += 1
        hooks = app.before_request_funcs.get(rule.endpoint.rsplit(".", 1)[0], [])
        if not any(hook.__name__ == "resolve_partition" for hook in hooks):
            unchecked.append(rule.rule)
    assert checked > 200 and unchecked == []  # each route x 4 versions x plain/partitioned


def test_route_catalogue_covers_the_route_table():
    """Each table entry is requested by the matrix below, with the reference's action."""
    covered = {case.endpoint for case in CASES + ANONYMOUS_CASES}
    assert covered == set(routes.ROUTES) - {"static"}
    for case in CASES:
        assert routes.ROUTES[case.endpoint].action == ACTION_NAMES[case.action], case.endpoint


def _bad_tokens(idp):
    """(token, WWW-Authenticate suffix) for each kind of rejected token."""
    now = int(time.time())
    expired = now - 3600
    expired_text = time.strftime("%m/%d/%Y %H:%M:%S", time.gmtime(expired))
    foreign_key, _ = new_key()
    return [
        (None, ""),
        ("not-a-jwt", INVALID),
        (idp.token(["admin"], exp=expired, nbf=expired - 60),
         f"{INVALID}, error_description=\"The token expired at '{expired_text}'\""),
        (idp.token(["admin"], key=foreign_key),
         f'{INVALID}, error_description="The signature is invalid"'),
        (idp.token(["admin"], aud="someone-else"),
         f"{INVALID}, error_description=\"The audience 'someone-else' is invalid\""),
        (idp.token(["admin"], iss="https://evil.example"),
         f"{INVALID}, error_description=\"The issuer 'https://evil.example' is invalid\""),
        (idp.unsigned_token(["admin"]), f'{INVALID}, error_description="The signature is invalid"'),
        (idp.hs256_token(["admin"]), f'{INVALID}, error_description="The signature is invalid"'),
        (idp.token(["admin"], kid="unknown-kid"),
         f'{INVALID}, error_description="The signature key was not found"'),
    ]


def test_every_route_for_every_kind_of_caller(make_app, idp, partition_mode, tmp_path):
    partitioned = partition_mode == "partitioned"
    app = secure_app(make_app, idp, partitioned, ENABLE_EXPORT=True,
                     EXPORT_ROOT=str(tmp_path / "exports"))
    client = app.test_client()
    base = "/partitions/SiteA" if partitioned else ""
    admin = bearer(idp.token(["admin"]))
    study, series, sop = uid(), uid(), uid()
    seeded = store(client, base, make_dataset(study, series, sop), headers=admin)
    assert seeded.status_code == 200
    ids = {"base": base, "study": study, "series": series, "sop": sop, "other": uid()}
    bad_tokens = _bad_tokens(idp)
    other_scope = bearer(idp.token(["siteB"]))
    failures = []

    def expect(case, headers, status, body=None, www=None):
        response = send(client, case, ids, headers)
        got = (response.status_code, response.data if body is not None else None,
               response.headers.get("WWW-Authenticate") if www is not None else None)
        if got != (status, body, www):
            failures.append((case.method, case.path, headers, got, (status, body, www)))
        return response

    for case in CASES:
        for token, suffix in bad_tokens:
            expect(case, bearer(token) if token else {}, 401, b"", challenge(idp, suffix))
        expect(case, bearer(idp.token([ALL_BUT[case.action]])), 403, FORBIDDEN)
        expect(case, bearer(idp.token([])), 403, FORBIDDEN)
        if case.endpoint == "partitions.list_partitions":
            response = expect(case, other_scope, case.expected(partitioned))
            assert not partitioned or response.json == []  # SiteB does not exist
        elif case.endpoint == "partitions.get_partition" and not partitioned:
            expect(case, other_scope, 400)  # the feature is off, whoever asks
        else:
            expect(case, other_scope, 403, FORBIDDEN)
        expect(case, bearer(idp.token([ROLE_FOR[case.action], "reader"])),
               case.expected(partitioned))
    for case in ANONYMOUS_CASES:
        expect(case, {}, case.status)
        expect(case, bearer("not-a-jwt"), case.status)
    assert failures == []
