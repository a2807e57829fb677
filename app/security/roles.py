"""The roles file (the reference's ``roles.json``) and what a caller's roles grant.

Format (reference-2.md §4.2)::

    {"roles": [{"name": "globalReader", "dataActions": ["read"], "notDataActions": [],
                "scopes": ["/"]}]}

A role grants ``dataActions`` minus ``notDataActions`` in each of its scopes. Beyond the
reference, a scope is ``/`` (every partition and the global resources) or
``/partitions/{name}`` (that partition only; names compare case-insensitively, as partition
names do). A caller's grants are the union over the roles its token names (role names match
case-insensitively; unknown names are ignored); one role's ``notDataActions`` never remove
another role's actions.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..dicomweb.identifiers import is_valid_partition_name
from .actions import ACTION_NAMES, DataAction

#: The roles shipped with the server (globalReader, globalWriter, globalAdmin).
DEFAULT_ROLES_FILE = Path(__file__).with_name("roles.json")
GLOBAL_SCOPE = "/"
PARTITION_SCOPE_PREFIX = "/partitions/"
_ROLE_NAME = re.compile(r"^[a-zA-Z_-]+$")
_KEYS = {"name", "dataActions", "notDataActions", "scopes"}


class RolesFileError(ValueError):
    """The roles file cannot be used; the server does not start."""


@dataclass(frozen=True)
class Role:
    """A named set of data actions granted in some scopes (partition names lower-cased)."""

    name: str
    actions: DataAction
    global_scope: bool
    partitions: frozenset[str]


@dataclass(frozen=True)
class Grants:
    """What one caller may do: actions everywhere (scope ``/``) and per partition."""

    global_actions: DataAction = DataAction.NONE
    partition_actions: Mapping[str, DataAction] = field(default_factory=dict)

    def in_partition(self, partition_name: str) -> DataAction:
        """The actions allowed in the partition with this (stored) name."""
        return self.global_actions | self.partition_actions.get(partition_name.lower(),
                                                                DataAction.NONE)

    def anywhere(self) -> DataAction:
        """The actions allowed in at least one scope."""
        actions = self.global_actions
        for granted in self.partition_actions.values():
            actions |= granted
        return actions


#: With authorization off, every authenticated caller may do everything (the reference).
EVERYTHING = Grants(DataAction.ALL)


def load_roles(path: Path) -> dict[str, Role]:
    """Read and validate a roles file: role name (lower-cased) -> Role."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RolesFileError(f"Error validating roles:\n{exc}") from None
    return parse_roles(document)


def parse_roles(document: Any) -> dict[str, Role]:
    """Validate a parsed roles document (messages name the offending role and property)."""
    if not isinstance(document, dict) or set(document) != {"roles"} \
            or not isinstance(document["roles"], list):
        raise RolesFileError('Error validating roles:\nThe document must be {"roles": [...]}.')
    roles: dict[str, Role] = {}
    names: list[str] = []
    for index, entry in enumerate(document["roles"]):
        role = _parse_role(index, entry)
        names.append(role.name)
        roles[role.name.lower()] = role
    for name in names:
        count = sum(1 for other in names if other.lower() == name.lower())
        if count > 1:
            raise RolesFileError(f"There are {count} roles with the name '{name}'")
    return roles


def _parse_role(index: int, entry: Any) -> Role:
    where = f"roles[{index}]"
    if not isinstance(entry, dict) or set(entry) != _KEYS:
        raise RolesFileError(f"Error validating roles:\n{where} must have exactly the "
                             f"properties {', '.join(sorted(_KEYS))}.")
    name = entry["name"]
    if not isinstance(name, str) or not _ROLE_NAME.match(name):
        raise RolesFileError(f"Error validating roles:\n{where}.name must match "
                             f"{_ROLE_NAME.pattern}.")
    actions = _parse_actions(f"{where}.dataActions", entry["dataActions"])
    actions &= ~_parse_actions(f"{where}.notDataActions", entry["notDataActions"])
    scopes = entry["scopes"]
    if not isinstance(scopes, list) or not scopes:
        raise RolesFileError(f"Error validating roles:\n{where}.scopes must be a non-empty "
                             "list.")
    partitions = set()
    for scope in scopes:
        if scope == GLOBAL_SCOPE:
            continue
        partition = scope[len(PARTITION_SCOPE_PREFIX):] if isinstance(scope, str) \
            and scope.startswith(PARTITION_SCOPE_PREFIX) else None
        if not is_valid_partition_name(partition):
            raise RolesFileError(f"Error validating roles:\n{where}.scopes: {scope!r} is "
                                 "neither '/' nor '/partitions/{name}' with a valid name.")
        partitions.add(partition.lower())  # type: ignore[union-attr]
    return Role(name, actions, GLOBAL_SCOPE in scopes, frozenset(partitions))


def _parse_actions(where: str, values: Any) -> DataAction:
    if not isinstance(values, list):
        raise RolesFileError(f"Error validating roles:\n{where} must be a list.")
    actions = DataAction.NONE
    for value in values:
        if value not in ACTION_NAMES:
            raise RolesFileError(f"Error validating roles:\n{where}: unknown data action "
                                 f"{value!r} (one of {', '.join(ACTION_NAMES)}).")
        actions |= ACTION_NAMES[value]
    return actions


def grants_for(role_names: Iterable[str], roles: Mapping[str, Role]) -> Grants:
    """The union of the named roles' grants."""
    global_actions = DataAction.NONE
    partition_actions: dict[str, DataAction] = {}
    for name in role_names:
        role = roles.get(name.lower()) if isinstance(name, str) else None
        if role is None:
            continue
        if role.global_scope:
            global_actions |= role.actions
        for partition in role.partitions:
            partition_actions[partition] = partition_actions.get(partition,
                                                                 DataAction.NONE) | role.actions
    return Grants(global_actions, partition_actions)
