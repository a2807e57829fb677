"""UID and partition-name rules (reference.md §2.4, §3.4)."""
from __future__ import annotations

import pytest

from app.dicomweb.identifiers import is_valid_partition_name, is_valid_uid


@pytest.mark.parametrize("uid", ["1", "1.2.3", "1.2.840.10008.1.2.1", "0.1", "1.2 ", "9" * 64])
def test_valid_uids(uid):
    assert is_valid_uid(uid)


@pytest.mark.parametrize("uid", ["", "abc.123", "11|", "1.2.", "1..a", "9" * 65, "1.2\n", None])
def test_invalid_uids(uid):
    assert not is_valid_uid(uid)


@pytest.mark.parametrize("name", ["fooBAR", "fooBAR123", "fooBAR123.-_", "13.14.520", "1",
                                  "62f5c7eb_124a_49b1_9e5c-17c81a1a7137", "a" * 64, "a.."])
def test_valid_partition_names(name):
    assert is_valid_partition_name(name)


@pytest.mark.parametrize("name", ["", "123 ", "abc123@!", "62f5/", "a" * 65, ".", "..", "...",
                                  "a\n", "\u00e9", None])
def test_invalid_partition_names(name):
    assert not is_valid_partition_name(name)
