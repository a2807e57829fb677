"""The roles file and a caller's grants (app/security/roles.py)."""
from __future__ import annotations

import pytest

from app.security.actions import DataAction
from app.security.roles import (DEFAULT_ROLES_FILE, RolesFileError, grants_for, load_roles,
                                parse_roles)

READ, WRITE, DELETE = DataAction.READ, DataAction.WRITE, DataAction.DELETE


def _role(name="r", actions=("read",), not_actions=(), scopes=("/",)):
    return {"name": name, "dataActions": list(actions), "notDataActions": list(not_actions),
            "scopes": list(scopes)}


def test_shipped_roles():
    roles = load_roles(DEFAULT_ROLES_FILE)
    assert {r.name: r.actions for r in roles.values()} == {
        "globalReader": READ, "globalWriter": READ | WRITE, "globalAdmin": DataAction.ALL}


def test_roles_combine_and_not_data_actions_subtract_within_a_role_only():
    roles = parse_roles({"roles": [
        _role("allButDelete", ["*"], ["delete"]), _role("deleter", ["delete"]),
        _role("siteA", ["write"], scopes=["/partitions/SiteA", "/partitions/siteb"])]})
    assert grants_for(["ALLBUTDELETE"], roles).global_actions == DataAction.ALL & ~DELETE
    assert grants_for(["allButDelete", "deleter", "unknown"], roles).global_actions \
        == DataAction.ALL
    grants = grants_for(["siteA"], roles)
    assert grants.global_actions == DataAction.NONE
    assert grants.in_partition("sitea") == grants.in_partition("SITEB") == WRITE
    assert grants.in_partition("SiteC") == DataAction.NONE
    assert grants.anywhere() == WRITE


@pytest.mark.parametrize("document, message", [
    ({"roles": [_role("bad name")]}, r"roles\[0\].name must match"),
    ({"roles": [{**_role(), "extra": 1}]}, "exactly the properties"),
    ({"roles": [_role(actions=["reed"])]}, "unknown data action 'reed'"),
    ({"roles": [_role(scopes=[])]}, "non-empty"),
    ({"roles": [_role(scopes=["/partitions/"])]}, "neither '/'"),
    ({"roles": [_role(scopes=["/partitions/a/b"])]}, "neither '/'"),
    ({"roles": [_role("Same"), _role("same")]}, "There are 2 roles with the name 'Same'"),
    ({"role": []}, "The document must be"),
])
def test_invalid_roles_files(document, message):
    with pytest.raises(RolesFileError, match=message):
        parse_roles(document)
