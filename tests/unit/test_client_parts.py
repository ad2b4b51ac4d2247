"""Unit tests of the client's shared structures: balancer and cache."""

from __future__ import annotations

import threading

import pytest

from mictlanx_sync.balancer import RoundRobinBalancer
from mictlanx_sync.cache import Cache


def test_round_robin_then_failover_order():
    now = [0.0]
    b = RoundRobinBalancer(["a", "b", "c"], cooldown=5, clock=lambda: now[0])
    assert [b.candidates()[0] for _ in range(4)] == ["a", "b", "c", "a"]
    b.mark_down("b")
    firsts = [b.candidates() for _ in range(3)]
    assert all(order[-1] == "b" for order in firsts)
    assert {order[0] for order in firsts} == {"a", "c"}
    now[0] = 6.0
    assert not b.is_down("b")


def test_all_down_still_offers_every_router_earliest_first():
    now = [0.0]
    b = RoundRobinBalancer(["a", "b"], cooldown=5, clock=lambda: now[0])
    b.mark_down("b")
    now[0] = 1.0
    b.mark_down("a")
    assert b.candidates() == ["b", "a"]
    b.mark_up("a")
    assert b.candidates()[0] == "a"


def test_cache_lru_is_bounded_in_bytes_and_versioned():
    c = Cache(capacity=10)
    c.put("a", b"12345", "v1")
    c.put("b", b"12345", "v1")
    assert c.get("a", "v1") == b"12345"
    c.put("c", b"123", "v1")
    assert c.get("b", "v1") is None
    assert c.get("a", "v1") == b"12345"
    assert c.used <= 10
    assert c.get("a", "v2") is None
    c.put("huge", b"x" * 11, "v1")
    assert c.get("huge", "v1") is None
    c.invalidate("a")
    assert c.get("a", "v1") is None


def test_cache_lfu_evicts_least_used():
    c = Cache(capacity=10, policy="LFU")
    c.put("a", b"12345", "v")
    c.put("b", b"12345", "v")
    for _ in range(3):
        c.get("a", "v")
    c.put("c", b"1", "v")
    assert c.get("a", "v") is not None and c.get("b", "v") is None


def test_cache_rejects_bad_settings():
    with pytest.raises(ValueError):
        Cache(10, "FIFO")
    with pytest.raises(ValueError):
        Cache(-1)


def test_cache_is_thread_safe():
    c = Cache(capacity=1000)

    def work(n):
        for i in range(500):
            c.put((n, i % 20), bytes(10), "v")
            c.get((n, (i + 1) % 20), "v")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert c.used <= 1000 and c.used == 10 * len(c)
