"""Routing errors never become 500s (issue #2)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/nothing", "/v3/studies", "/v1/unknown/route", "/health",
                                  "/partitions/x/unknown"])
def test_unknown_route_returns_404(app, client, path):
    response = client.get(path)
    assert response.status_code == 404


def test_wrong_method_returns_405(app, client, base):
    assert client.put(f"{base}/studies").status_code == 405
    assert client.post("/health/check").status_code == 405
    assert client.delete("/partitions").status_code == 405


def test_unexpected_error_returns_generic_500_without_internals(app, client, monkeypatch):
    from app.services import health

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(health, "check_health", boom)
    monkeypatch.setattr("app.api.health.check_health", boom)
    response = client.get("/health/check")
    assert response.status_code == 500
    text = response.get_data(as_text=True)
    assert "secret" not in text
    assert text.startswith("The server encountered an internal error.")


def test_any_route_query_string_with_angle_bracket_returns_400(make_app):
    # reference.md §0.1: rejected on every route, before routing (even an unknown one).
    client = make_app().test_client()
    for path in ("/changefeed?x=%3Cscript%3E", "/v1/extendedquerytags?a=<", "/nothing?q=%3c",
                 "/studies/1.2/metadata?a=<b", "/health/check?x=%3C"):
        response = client.get(path)
        assert response.status_code == 400, path
        assert response.mimetype == "text/plain"
        assert response.get_data(as_text=True) == "The query string included invalid characters."


def test_any_route_empty_path_segment_returns_404(make_app):
    # No redirect to a merged path, which would name another resource.
    client = make_app().test_client()
    for path in ("/studies/1.2//metadata", "/studies/1.2/series/%2F/metadata",
                 "/v1/studies/1.2/series/3//instances"):
        response = client.get(path)
        assert (response.status_code, response.get_data()) == (404, b""), path
