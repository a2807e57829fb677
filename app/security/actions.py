"""Data actions (reference.md §12, reference-2.md §4.2): what a role may do, as a set of flags."""
from __future__ import annotations

import enum


class DataAction(enum.Flag):
    """One data action, or a set of them (``|``). ``ALL`` is the roles file's ``*``."""

    NONE = 0
    READ = enum.auto()
    WRITE = enum.auto()
    DELETE = enum.auto()
    MANAGE_EXTENDED_QUERY_TAGS = enum.auto()
    EXPORT = enum.auto()
    #: Ours (issue #20): rename, set the quota of, or delete a partition (scope ``/``).
    MANAGE_PARTITIONS = enum.auto()
    ALL = READ | WRITE | DELETE | MANAGE_EXTENDED_QUERY_TAGS | EXPORT | MANAGE_PARTITIONS


#: The names the roles file uses (the reference's ``DataActions`` JSON names).
ACTION_NAMES: dict[str, DataAction] = {
    "read": DataAction.READ,
    "write": DataAction.WRITE,
    "delete": DataAction.DELETE,
    "manageExtendedQueryTags": DataAction.MANAGE_EXTENDED_QUERY_TAGS,
    "export": DataAction.EXPORT,
    "managePartitions": DataAction.MANAGE_PARTITIONS,
    "*": DataAction.ALL,
}
_NAME_OF = {action: name for name, action in ACTION_NAMES.items()}


def action_name(action: DataAction) -> str:
    """The roles-file name of one action ('read', ..., '*'); '' for NONE (audit lines)."""
    if action in _NAME_OF:
        return _NAME_OF[action]
    return "+".join(_NAME_OF[a] for a in DataAction.ALL if a in action and a in _NAME_OF)
