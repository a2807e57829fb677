"""Helpers for the partition administration tests (issue #20): stores running while a
partition is renamed or deleted."""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator

from tests.api.helpers import store, values
from tests.dicom_factory import make_dataset


class StoreLoad:
    """What the writers of ``storing_into`` got: each response's status and the SOP instance
    UIDs it acknowledged."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.stored: list[str] = []
        self.errors: list[BaseException] = []
        self.lock = threading.Lock()

    def wait_for(self, responses: int, timeout: float = 60.0) -> None:
        """Until the writers got this many responses in all."""
        deadline = time.time() + timeout
        while len(self.statuses) < responses:
            assert not self.errors, self.errors
            assert time.time() < deadline, "the writers are stuck"
            time.sleep(0.01)


@contextmanager
def storing_into(app: Any, partition: str, writers: int = 3,
                 parts: int = 2) -> Iterator[StoreLoad]:
    """``writers`` threads storing ``parts`` new instances per request into the partition
    until the block ends; any status but 200, 202 or 409 fails the test at the end."""
    load = StoreLoad()
    stop = threading.Event()

    def writer() -> None:
        client = app.test_client()
        try:
            while not stop.is_set():
                response = store(client, f"/partitions/{partition}",
                                 *[make_dataset() for _ in range(parts)])
                assert response.status_code in (200, 202, 409), response.data
                ok = [values(item, "00081155")[0]
                      for item in values(response.json or {}, "00081199")]
                with load.lock:
                    load.statuses.append(response.status_code)
                    load.stored.extend(ok)
        except BaseException as exc:  # re-raised by the test thread below
            load.errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert not load.errors, load.errors
