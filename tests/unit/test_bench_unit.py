"""The benchmark's reductions and table (no server needed)."""

from __future__ import annotations

from mictlanx_sync.bench import BenchRow, format_table, median_rows


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
