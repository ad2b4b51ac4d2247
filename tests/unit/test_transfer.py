"""Unit tests of the transfer engine: chunk planning, layouts, the bounded manager, progress,
upload sources and the file sink."""

from __future__ import annotations

import hashlib
import io
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from mictlanx_sync.errors import IntegrityError, InvalidArgumentError, NotFoundError, TransferError
from mictlanx_sync.models import Metadata
from mictlanx_sync.transfer.chunking import layout_from_metadata, plan_chunks
from mictlanx_sync.transfer.manager import TransferManager
from mictlanx_sync.transfer.progress import Progress
from mictlanx_sync.transfer.sink import FileSink
from mictlanx_sync.transfer.sources import BufferSource, FileSource, ListSource, checksums, open_source


def test_plan_chunks_covers_every_byte_once():
    for total in (0, 1, 999, 1000, 1001, 25001):
        spans = plan_chunks(total, 1000)
        assert [s.index for s in spans] == list(range(len(spans)))
        assert sum(s.size for s in spans) == total
        offset = 0
        for s in spans:
            assert s.offset == offset
            offset += s.size
    assert [s.size for s in plan_chunks(25001, 10000)] == [10000, 10000, 5001]
    assert len(plan_chunks(0, 10)) == 1


def _meta(key, index, num, size, *, full="f", updated="1", checksum="c"):
    return Metadata(key=f"{key}_{index}", size=size, checksum=checksum,
                    tags={"index": str(index), "num_chunks": str(num), "full_checksum": full,
                          "updated_at": updated},
                    content_type="application/octet-stream", producer_id="p", ball_id=key, bucket_id="b")


def test_layout_orders_by_index_dedupes_replicas_and_uses_real_sizes():
    chunks = [_meta("k", 1, 2, 15001), _meta("k", 0, 2, 10000), _meta("k", 1, 2, 15001)]
    layout = layout_from_metadata("b", "k", chunks)
    assert [c.key for c in layout.chunks] == ["k_0", "k_1"]
    assert [(s.offset, s.size) for s in layout.spans] == [(0, 10000), (10000, 15001)]
    assert layout.size == 25001 and layout.full_checksum == "f"


def test_layout_refuses_missing_or_extra_chunks():
    with pytest.raises(IntegrityError, match="missing"):
        layout_from_metadata("b", "k", [_meta("k", 0, 3, 1), _meta("k", 2, 3, 1)])
    with pytest.raises(IntegrityError, match="missing"):
        layout_from_metadata("b", "k", [_meta("k", 0, 2, 1), _meta("k", 1, 2, 1, full="other")])


def test_layout_ignores_chunks_of_another_version():
    """Chunk 0 (written last) names the version: leftovers of a failed or racing put are ignored."""
    layout = layout_from_metadata("b", "k", [_meta("k", 0, 2, 5), _meta("k", 1, 2, 7),
                                             _meta("k", 1, 3, 9, full="other", updated="9"),
                                             _meta("k", 2, 3, 9, full="other")])
    assert [c.size for c in layout.chunks] == [5, 7] and layout.size == 12
    with pytest.raises(NotFoundError, match="chunk 0"):
        layout_from_metadata("b", "k", [_meta("k", 1, 2, 1)])


def test_layout_of_diverged_replicas_is_the_newest_version_and_says_so():
    """Replicas written with different bytes (a public router allows it): the newest chunk 0 by
    ``updated_at`` names the version, and the layout reports the divergence."""
    old = _meta("k", 0, 1, 4, full="old", updated="5", checksum="c-old")
    new = _meta("k", 0, 1, 6, full="new", updated="9", checksum="c-new")
    for listing in ([old, new], [new, old], [old, new, old]):
        layout = layout_from_metadata("b", "k", listing)
        assert layout.full_checksum == "new" and layout.size == 6 and layout.diverged
    assert not layout_from_metadata("b", "k", [new, new]).diverged


def test_layout_of_a_bare_ball_is_one_chunk():
    bare = Metadata(key="raw", size=5, checksum="abc", tags={}, content_type="x", producer_id="p", ball_id="raw")
    layout = layout_from_metadata("b", "raw", [bare])
    assert layout.size == 5 and layout.full_checksum == "abc"


def test_manager_consumes_in_order_and_bounds_the_window():
    active = []
    lock = threading.Lock()
    peak = [0]

    def task(i, cancel):
        with lock:
            active.append(i)
            peak[0] = max(peak[0], len(active))
        time.sleep(0.005 * ((i * 7) % 3))
        with lock:
            active.remove(i)
        return i * 10

    seen = []
    with ThreadPoolExecutor(8) as ex:
        TransferManager(ex, window=3).run(40, task, lambda i, r: seen.append((i, r)))
    assert seen == [(i, i * 10) for i in range(40)]
    assert peak[0] <= 3


def test_manager_first_failure_cancels_and_names_indices():
    started = []

    def task(i, cancel):
        started.append(i)
        if i == 2:
            raise NotFoundError("boom")
        time.sleep(0.01)
        return i

    with ThreadPoolExecutor(2) as ex, pytest.raises(TransferError) as info:
        TransferManager(ex, window=4).run(100, task)
    assert 2 in info.value.failed_indices
    assert isinstance(info.value.cause, NotFoundError)
    assert len(started) < 100


def test_manager_passthrough_keeps_the_class():
    def task(i, cancel):
        raise IntegrityError("bad bytes")

    with ThreadPoolExecutor(2) as ex, pytest.raises(IntegrityError):
        TransferManager(ex, window=2, passthrough=(IntegrityError,)).run(3, task)
    with pytest.raises(IntegrityError):
        TransferManager(None, window=2, passthrough=(IntegrityError,)).run(3, task)


def test_progress_is_monotonic_and_clamped():
    calls = []
    p = Progress(100, lambda done, total: calls.append((done, total)))
    for n in (30, 30, 30, 30, -5):
        p.add(n)
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    assert calls[-1] == (100, 100)


def test_progress_from_many_threads_with_a_slow_callback_never_goes_backwards():
    calls = []

    def slow(done, total):
        if done % 7 == 0:
            time.sleep(0.001)  # a UI redraw: reports from other workers queue up meanwhile
        calls.append(done)

    p = Progress(4000, slow)
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: p.add(1), range(4000)))
    assert calls == sorted(calls) and len(set(calls)) == len(calls)
    assert calls[-1] == 4000


def test_progress_of_an_empty_transfer_reports_once():
    calls = []
    p = Progress(0, lambda done, total: calls.append((done, total)))
    p.add(0)
    p.add(0)
    assert calls == [(0, 0)]


def test_sources_read_the_same_bytes(tmp_path):
    data = os.urandom(10_001)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    full = hashlib.sha256(data).hexdigest()
    sources = [BufferSource(data), BufferSource(bytearray(data)), FileSource.open(path),
               open_source(io.BytesIO(data)), open_source(iter([data[:5000], data[5000:]]))]
    with open(path, "rb") as f:
        f.seek(1)
        offset_source = open_source(f)
        assert offset_source.size == len(data) - 1
        assert bytes(offset_source.read(0, 10)) == data[1:11]
    for source in sources:
        assert source.size == len(data)
        spans = source.spans(3000)
        whole, chunk_sums = checksums(source, spans, TransferManager(None, 4))
        assert whole == full
        assert chunk_sums == [hashlib.sha256(data[x.offset:x.offset + x.size]).hexdigest() for x in spans]
        assert b"".join(bytes(source.read(s.offset, s.size)) for s in source.spans(3000)) == data
        source.close()


def test_list_source_keeps_caller_chunks():
    source = ListSource([b"abc", b"", b"defg"])
    assert [(s.offset, s.size) for s in source.spans(1)] == [(0, 3), (3, 0), (3, 4)]
    with ThreadPoolExecutor(2) as pool:
        whole, chunk_sums = checksums(source, source.spans(1), TransferManager(pool, 2))
    assert whole == hashlib.sha256(b"abcdefg").hexdigest()
    assert chunk_sums == [hashlib.sha256(c).hexdigest() for c in (b"abc", b"", b"defg")]
    assert [bytes(source.read(s.offset, s.size)) for s in source.spans(1)] == [b"abc", b"", b"defg"]
    with pytest.raises(InvalidArgumentError):
        source.read(3, 2)


def test_open_source_refuses_text_and_str(tmp_path):
    with pytest.raises(InvalidArgumentError, match="encode"):
        open_source("text")
    with pytest.raises(InvalidArgumentError):
        open_source(42)
    p = tmp_path / "t.txt"
    p.write_text("x")
    with open(p) as f, pytest.raises(InvalidArgumentError, match="binary"):
        open_source(f)
    with pytest.raises(InvalidArgumentError, match="no such file"):
        FileSource.open(tmp_path / "missing")


def test_spooled_stream_file_is_removed_on_close(tmp_path):
    source = open_source(iter([b"a" * 10]), spool_dir=str(tmp_path))
    assert len(os.listdir(tmp_path)) == 1
    source.close()
    assert os.listdir(tmp_path) == []


def test_file_sink_commits_atomically_and_aborts_cleanly(tmp_path):
    target = tmp_path / "out.bin"
    sink = FileSink(str(target), 6)
    assert sink.write(b"def", 3) and sink.write(b"abc", 0)
    assert not target.exists()
    sink.commit()
    assert target.read_bytes() == b"abcdef"
    assert os.listdir(tmp_path) == ["out.bin"]
    sink = FileSink(str(tmp_path / "other.bin"), 3)
    sink.abort()
    assert not sink.write(b"abc", 0)
    assert os.listdir(tmp_path) == ["out.bin"]


def test_file_sink_gives_the_usual_mode_not_mkstemps_0600(tmp_path):
    old = os.umask(0o022)
    try:
        sink = FileSink(str(tmp_path / "m.bin"), 1)
        sink.write(b"x", 0)
        path = sink.commit()
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o644
