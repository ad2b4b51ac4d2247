"""Every sample under samples/ runs against a local VSS with the seed's arguments."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
FRAMES = SAMPLES / "data" / "frames"


def _run(script: str, *args: str, env: dict) -> str:
    proc = subprocess.run([sys.executable, str(SAMPLES / script), *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout.strip()


@pytest.fixture
def env(vss):
    return {**os.environ, "MICTLANX_URI": vss.uri, "MICTLANX_ROUTER_URL": vss.router_url,
            "MICTLANX_PEER_URL": vss.peer_urls[0]}


def test_peer_samples(env, tmp_path):
    bucket = f"s{uuid.uuid4().hex[:8]}"
    frame = str(sorted(FRAMES.iterdir())[0])
    task_id = _run("peer/01_put_metadata.py", "--bucket_id", bucket, "--key", "f0", "--path", frame,
                   "--tag", "kind=frame", env=env)
    assert task_id
    assert "stored" in _run("peer/02_put_data.py", "--task_id", task_id, "--path", frame, env=env)
    out = tmp_path / "f0.ppm"
    _run("peer/03_get.py", "--bucket_id", bucket, "--key", "f0", "--out", str(out), env=env)
    assert filecmp.cmp(frame, out, shallow=False)
    _run("peer/04_put_frames.py", "--bucket_id", bucket, "--ball_id", "clip", "--frame_dir", str(FRAMES), env=env)
    frames_out = tmp_path / "frames"
    _run("peer/05_get_frames.py", "--bucket_id", bucket, "--ball_id", "clip", "--out", str(frames_out),
         "--delay_ms", "1", env=env)
    for frame_path in FRAMES.iterdir():
        assert filecmp.cmp(frame_path, frames_out / frame_path.name, shallow=False)


def test_router_samples(env, tmp_path):
    bucket = f"s{uuid.uuid4().hex[:8]}"
    frame = str(sorted(FRAMES.iterdir())[1])
    task_id = _run("router/01_put_metadata.py", "--bucket_id", bucket, "--key", "r0", "--path", frame,
                   "--rf", "2", env=env)
    assert "stored" in _run("router/02_put_data.py", "--task_id", task_id, "--path", frame, env=env)
    out = tmp_path / "r0.ppm"
    _run("peer/03_get.py", "--bucket_id", bucket, "--key", "r0", "--out", str(out), env=env)
    assert filecmp.cmp(frame, out, shallow=False)


def test_client_samples(env, tmp_path):
    bucket = f"s{uuid.uuid4().hex[:8]}"
    src = tmp_path / "video.bin"
    src.write_bytes(os.urandom(700_000))
    put = _run("client/01_put.py", "--bucket_id", bucket, "--key", "video", "--path", str(src),
               "--chunk_size", "256kb", "--tag", "owner=sample", env=env)
    assert "3 chunks" in put
    assert "700000 bytes" in _run("client/02_get.py", "--bucket_id", bucket, "--key", "video", env=env)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    wrote = _run("client/02_get.py", "--bucket_id", bucket, "--key", "video", "--to_file", "--out", str(out_dir),
                 "--fullname", "copy.bin", env=env)
    assert wrote.endswith("copy.bin")
    assert filecmp.cmp(src, out_dir / "copy.bin", shallow=False)
