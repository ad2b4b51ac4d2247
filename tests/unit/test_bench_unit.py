"""The benchmark's reductions and table (no server needed)."""

from __future__ import annotations

import pytest

from mictlanx_sync.bench import BenchRow, cpu_ratios, format_table, median_rows, parse_delays, round_trips


def row(impl: str, op: str, seconds: float, rss: int = 100, workers: int = 8, size: int = 1 << 20) -> BenchRow:
    return BenchRow(impl=impl, op=op, size=size, count=1, workers=workers, seconds=seconds, peak_rss=rss)


def test_median_rows_keeps_first_seen_order_and_the_median_run() -> None:
    rows = [row("ceiling", "get", 1.0), row("client", "get", 3.0, rss=10),
            row("ceiling", "get", 2.0), row("client", "get", 1.0, rss=30),
            row("ceiling", "get", 9.0), row("client", "get", 2.0, rss=20)]
    reduced = median_rows(rows)
    assert [(r.impl, r.seconds, r.peak_rss) for r in reduced] == [("ceiling", 2.0, 100), ("client", 2.0, 30)]


def test_median_rows_takes_the_slower_middle_of_an_even_count() -> None:
    reduced = median_rows([row("client", "put", 1.0), row("client", "put", 4.0)])
    assert [r.seconds for r in reduced] == [4.0]


def test_median_rows_separates_worker_counts() -> None:
    reduced = median_rows([row("client", "get", 1.0, workers=1), row("client", "get", 2.0, workers=8)])
    assert [(r.workers, r.seconds) for r in reduced] == [(1, 1.0), (8, 2.0)]


def test_format_table_ratios_use_the_medians() -> None:
    rows = [row("ceiling", "get", 1.0), row("floor", "get", 4.0), row("client", "get", 2.0),
            row("ceiling", "get", 3.0), row("floor", "get", 4.0), row("client", "get", 2.0),
            row("ceiling", "get", 1.0), row("floor", "get", 4.0), row("client", "get", 2.0)]
    lines = format_table(rows).splitlines()
    assert len(lines) == 2 + 3  # header, rule, one row per impl
    client = next(line for line in lines if line.startswith("client"))
    assert client.split()[-2:] == ["0.50", "2.00"]


def timed(impl: str, op: str, delay: float, p50: float, cpu: float = 0.0, size: int = 4096,
          count: int = 10) -> BenchRow:
    return BenchRow(impl=impl, op=op, size=size, count=count, workers=1, seconds=1.0, peak_rss=1, cpu=cpu,
                    p50=p50, p99=p50, delay=delay)


def test_cpu_ratio_and_round_trips_per_delay() -> None:
    rows = [timed("bare", "get", 0.002, 0.010, cpu=0.010), timed("bare", "req", 0.002, 0.005),
            timed("client", "get", 0.002, 0.011, cpu=0.015),
            timed("bare", "get", 0.020, 0.082, cpu=0.010), timed("bare", "req", 0.020, 0.041),
            timed("client", "get", 0.020, 0.0506, cpu=0.012)]
    assert cpu_ratios(rows) == {(0.002, "get", 4096): pytest.approx(1.5), (0.020, "get", 4096): pytest.approx(1.2)}
    trips = round_trips(rows)
    assert trips[("bare", "get", 4096)] == pytest.approx(2.0)  # (82 - 10) / (41 - 5)
    assert trips[("client", "get", 4096)] == pytest.approx(1.1)  # (50.6 - 11) / 36
    table = format_table(rows)
    assert "injected one-way delay: 2 ms" in table and "injected one-way delay: 20 ms" in table
    assert "same run: 1.50x" in table and "client   get       4 KiB: 1.10" in table


def test_parse_delays() -> None:
    assert parse_delays("0,2ms, 20ms") == [0.0, 0.002, 0.02]
    with pytest.raises(ValueError):
        parse_delays(",")
