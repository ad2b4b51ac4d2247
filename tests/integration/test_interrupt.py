"""A real Ctrl-C (SIGINT) stops a transfer within about a second and leaves no partial file."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from mictlanx_sync import Client
from mictlanx_sync.errors import NotFoundError

CHILD = textwrap.dedent("""
    import signal
    import sys
    import time
    from mictlanx_sync import Client
    # A child of a background job inherits SIGINT ignored; Ctrl-C must raise KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    uri, bucket, out = sys.argv[1:4]
    started = []
    def progress(done, total):
        time.sleep(0.01)  # on worker threads: keeps the transfer running for seconds
        if not started:
            started.append(1)
            print("started", flush=True)
    with Client(uri, chunk_size="256kb", max_workers=4) as client:
        try:
            client.get_to_file(bucket, "big", out, progress=progress)
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
    print("finished", flush=True)
""")


@pytest.mark.timeout(120)
def test_sigint_stops_get_to_file_quickly_and_cleans_up(vss, tmp_path):
    bucket = f"i{uuid.uuid4().hex[:8]}"
    with Client(vss.uri, chunk_size="256kb") as client:
        client.put(bucket, "big", os.urandom(1 << 20) * 200)  # 200 MiB, 800 chunks
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    child = subprocess.Popen([sys.executable, "-c", CHILD, vss.uri, bucket, str(out_dir / "big.bin")],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    interrupted_at = time.monotonic()
    child.send_signal(signal.SIGINT)
    rest = child.stdout.read()
    code = child.wait(timeout=30)
    elapsed = time.monotonic() - interrupted_at
    if "finished" in rest:
        pytest.skip("the transfer finished before the signal arrived")
    assert code == 130 and "interrupted" in rest
    assert elapsed < 3.0, f"took {elapsed:.2f}s to stop"
    assert os.listdir(out_dir) == []


PUT_CHILD = textwrap.dedent("""
    import logging
    import signal
    import sys
    import time
    from mictlanx_sync import Client
    from mictlanx_sync._http import make_session
    from mictlanx_sync.config import RetryConfig
    signal.signal(signal.SIGINT, signal.default_int_handler)
    uri, bucket, slow_deletes = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    logging.basicConfig(stream=sys.stdout, level=logging.WARNING, format="%(message)s")
    started = []
    def progress(done, total):
        time.sleep(0.05)  # on worker threads: keeps the put running for seconds
        if not started:
            started.append(1)
            print("started", flush=True)
    def factory():
        session = make_session(retry=RetryConfig(), pool_maxsize=32)
        if slow_deletes:
            def hook(response, *args, **kwargs):
                if response.request.method == "DELETE":
                    time.sleep(0.5)
            session.hooks["response"].append(hook)
        return session
    with Client(uri, chunk_size="16kb", max_workers=4, session_factory=factory) as client:
        try:
            client.put(bucket, "big", b"x" * (16000 * 120), progress=progress)
        except KeyboardInterrupt as exc:
            print("interrupted:", exc, flush=True)
            sys.exit(130)
    print("finished", flush=True)
""")


def _start_put(vss, bucket, slow_deletes):
    child = subprocess.Popen([sys.executable, "-c", PUT_CHILD, vss.uri, bucket, "1" if slow_deletes else "0"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "started"
    time.sleep(0.3)  # let a few chunks be stored (not an assertion on timing)
    child.send_signal(signal.SIGINT)
    return child


@pytest.mark.timeout(120)
def test_sigint_during_put_removes_the_chunks_it_stored(vss):
    bucket = f"i{uuid.uuid4().hex[:8]}"
    child = _start_put(vss, bucket, slow_deletes=False)
    rest = child.stdout.read()
    assert child.wait(timeout=60) == 130, rest
    if "finished" in rest:
        pytest.skip("the put finished before the signal arrived")
    with Client(vss.uri) as client:
        assert not client.exists(bucket, "big")
        with pytest.raises(NotFoundError):
            client.get_by_ball_id(bucket, "big")  # no orphan chunk left under the key
        client.put(bucket, "big", b"other content")  # no "already exists" from leftovers
        assert client.get(bucket, "big").content == b"other content"
    assert "removed the" in rest


@pytest.mark.timeout(120)
def test_second_sigint_abandons_the_cleanup_and_names_the_key(vss):
    bucket = f"i{uuid.uuid4().hex[:8]}"
    child = _start_put(vss, bucket, slow_deletes=True)
    assert child.stdout is not None
    for line in child.stdout:
        if "removing the chunks it stored" in line:
            break
    else:
        pytest.fail("the child never started its cleanup")
    child.send_signal(signal.SIGINT)
    rest = child.stdout.read()
    assert child.wait(timeout=60) == 130, rest
    assert "cleanup abandoned" in rest and f"mictlanx-sync rm {bucket} big" in rest
    with Client(vss.uri) as client:
        client.delete(bucket, "big")
