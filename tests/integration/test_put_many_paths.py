"""``put_many`` takes paths (put_file semantics) and a ``progress`` argument (issue 12, item 10)."""

from __future__ import annotations

import os
import pathlib
import threading
from typing import Dict, List, Tuple

from mictlanx_sync import Client


def test_put_many_stores_paths_as_files_with_progress(vss, bucket, tmp_path):
    first = tmp_path / "notes.txt"
    first.write_bytes(b"file one")
    second = tmp_path / "data.bin"
    second.write_bytes(os.urandom(5000))
    seen: Dict[int, List[Tuple[int, int]]] = {}
    lock = threading.Lock()

    def progress(done: int, total: int) -> None:
        with lock:
            seen.setdefault(total, []).append((done, total))

    with Client(vss.uri, chunk_size="1kb") as client:
        results = client.put_many(bucket, {"a": first, "b": pathlib.PurePath(second), "c": b"bytes"},
                                  progress=progress)
        assert [r.ok for r in results] == [True, True, True], [r.error for r in results]
        assert client.get(bucket, "a").content == b"file one"
        assert client.get(bucket, "b").content == second.read_bytes()
        info = client.get_metadata(bucket, "a")
    assert info.tags["fullname"] == "notes.txt" and info.tags["extension"] == "txt"
    assert seen[8][-1] == (8, 8) and seen[5000][-1] == (5000, 5000) and seen[5][-1] == (5, 5)
