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
