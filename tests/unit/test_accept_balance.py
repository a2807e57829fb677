"""app.accept_balance: the rule that keeps forked processes' connection counts even."""
from __future__ import annotations

from app import accept_balance
from app.accept_balance import MAX_DEFER, ConnectionCounts, balance


class _Server:
    """What balance() uses of a waitress server."""

    def __init__(self, connections: int) -> None:
        self.active_channels = {n: object() for n in range(connections)}
        self.accepted = 0

    def handle_accept(self) -> None:
        self.accepted += 1
        self.active_channels[len(self.active_channels)] = object()

    def readable(self) -> bool:
        return True


def test_the_process_with_fewer_connections_accepts_at_once():
    counts = ConnectionCounts(2)
    counts.counts[1] = 3
    server = _Server(connections=1)
    balance(server, counts, 0)
    server.handle_accept()
    assert server.accepted == 1 and counts.counts[0] == 2


def test_a_process_with_more_connections_accepts_only_after_the_longest_deferral(
        monkeypatch):
    """However far apart its looks at the waiting connection are (a busy process), it takes
    it once MAX_DEFER has passed since it began leaving it to the others."""
    clock = [100.0]
    monkeypatch.setattr(accept_balance.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(accept_balance.time, "sleep", lambda seconds: None)
    counts = ConnectionCounts(2)
    counts.counts[1] = 0  # the other process holds none
    server = _Server(connections=1)
    balance(server, counts, 0)
    looks = 0
    while not server.accepted:
        server.handle_accept()
        looks += 1
        clock[0] += 0.03  # 30 ms between looks
        assert looks < 10
    assert clock[0] - 100.0 >= MAX_DEFER
    # a later connection, after another process accepted: a new deferral
    counts.counts[1] = 0
    counts.accepted()
    accepted = server.accepted
    server.handle_accept()
    assert server.accepted == accepted
