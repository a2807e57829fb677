"""Settings resolution (issue #2, decisions §8)."""
from __future__ import annotations

import pytest

from app.config import ConfigError, resolve


def test_defaults_run_on_sqlite_under_data_dir():
    settings = resolve({})
    assert settings["DATABASE_URL"].startswith("sqlite:///")
    assert settings["DATABASE_URL"].endswith("data/dicom.sqlite3")
    assert settings["ENABLE_DATA_PARTITIONS"] is False
    assert settings["PORT"] == 8080 and settings["HOST"] == "127.0.0.1"
    assert settings["DB_POOL_SIZE"] == settings["THREADS"] + 4


@pytest.mark.parametrize("value,expected", [("true", True), ("True", True), ("1", True),
                                            ("false", False), ("0", False)])
def test_partition_flag_from_env(value, expected):
    assert resolve({"DICOM_ENABLE_DATA_PARTITIONS": value})["ENABLE_DATA_PARTITIONS"] is expected


def test_reference_partition_flag_is_accepted():
    settings = resolve({"DicomServer__Features__EnableDataPartitions": "true"})
    assert settings["ENABLE_DATA_PARTITIONS"] is True


def test_dicom_prefixed_flag_wins_over_reference_flag():
    settings = resolve({"DicomServer__Features__EnableDataPartitions": "true",
                        "DICOM_ENABLE_DATA_PARTITIONS": "false"})
    assert settings["ENABLE_DATA_PARTITIONS"] is False


@pytest.mark.parametrize("env", [{"DICOM_PORT": "eighty"}, {"DICOM_THREADS": "0"},
                                 {"DICOM_ENABLE_DATA_PARTITIONS": "maybe"},
                                 {"DICOM_DATABASE_URL": "mysql://x"}])
def test_invalid_settings_fail_fast(env):
    with pytest.raises(ConfigError):
        resolve(env)


def test_sqlite_synchronous_is_full_unless_relaxed():
    assert resolve({})["SQLITE_SYNCHRONOUS"] == "FULL"
    assert resolve({"DICOM_SQLITE_SYNCHRONOUS": "normal"})["SQLITE_SYNCHRONOUS"] == "NORMAL"
    with pytest.raises(ConfigError):
        resolve({"DICOM_SQLITE_SYNCHRONOUS": "OFF"})
