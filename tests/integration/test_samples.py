"""The seed README's sample commands run exactly as written, in the order the seed tells them.

Each command line below is copied from the seed (``shared/seed/README-mictlanx-client.md``),
with its ``examples/`` folder read as our ``samples/``. It runs through ``/bin/sh`` in a temp
directory holding a copy of ``samples/`` (so ``./downloads`` lands there), with ``python3`` on
PATH being this interpreter. The only edit is the seed's task-id placeholder, replaced by the
id the previous command printed, as the seed tells its reader to do.

The seed's commands name ``localhost:24000`` (peer) and ``localhost:60666`` (router), which
``make vss`` serves; here a VSS of our own runs on free ports and the samples find it through
``MICTLANX_PEER_URL`` / ``MICTLANX_ROUTER_URL`` / ``MICTLANX_URI``, which they read when no
``--peer`` / ``--router`` / ``--uri`` is given: the command text stays verbatim and parallel
test runs never fight over the seed's fixed ports.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterator

import pytest

from mictlanx_sync import Client, Peer, Router
from mictlanx_sync.vss import LocalVSS, serve
from mictlanx_sync.vss import cli as vss_cli
from mictlanx_sync.vss.serve import free_port

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
FRAMES = sorted((SAMPLES / "data" / "frames").iterdir())

SEED_PEER = [
    "python3 samples/peer/01_put_metadata.py --bucket_id mictlanx --ball_id b1 --key hello-object",
    "python3 samples/peer/02_put_data.py --task_id=t-sdfF3f124f --key hello-object",
    "python3 samples/peer/03_get.py --bucket_id mictlanx --key hello-object",
    "python3 samples/peer/04_put_frames.py --bucket_id videos --ball_is video123 --frame_dir ./samples/data/frames",
    "python3 samples/peer/05_get_frames.py --bucket_id videos --ball_id video123 --delay_ms 40",
]
SEED_ROUTER = [
    "python3 samples/router/01_put_metadata.py --bucket_id bk1 --ball_id b1 --key k1",
    "python3 samples/router/01_put_frames.py --bucket_id bk1 --ball_id b1 --key k1",
    "python3 samples/router/02_put_data.py --task_id <PASTE_TASK_ID> --key k1",
]
SEED_CLIENT_PUT = """python3 samples/client/01_put.py \\
  --bucket_id mictlanx \\
  --ball_id hello-object \\
  --path ./samples/hello.txt \\
  --chunk_size 1MB \\
  --tag content_type=text/plain"""
SEED_CLIENT_GET = """python3 samples/client/02_get.py \\
  --bucket_id mictlanx \\
  --key       hello-object \\
  --chunk_size 1MB"""
SEED_CLIENT_GET_TO_FILE = """python3 samples/client/02_get.py \\
  --bucket_id mictlanx \\
  --key       hello-object \\
  --to_file \\
  --out       ./downloads \\
  --fullname  hello.txt \\
  --chunk_size 1MB"""


SEED_README = REPO.parent / "shared" / "seed" / "README-mictlanx-client.md"


def _normalized(command: str) -> str:
    return " ".join(command.replace("\\\n", " ").split())


def test_commands_here_are_the_seeds_verbatim() -> None:
    """Every ``python3 examples/...`` command of the seed README (read as ``samples/``) is one of
    the command lines this module runs, character for character up to line breaks."""
    if not SEED_README.exists():
        pytest.skip(f"the seed README is not at {SEED_README}")
    text = SEED_README.read_text(encoding="utf-8", errors="replace")
    joined = text.replace("\\\n", " ")
    seed = {_normalized(line.replace("examples/", "samples/")) for line in joined.splitlines()
            if line.strip().startswith("python3 examples/")}
    ours = {_normalized(c) for c in [*SEED_PEER, *SEED_ROUTER, SEED_CLIENT_PUT, SEED_CLIENT_GET,
                                     SEED_CLIENT_GET_TO_FILE]}
    assert len(seed) == 10 and seed <= ours, sorted(seed - ours)


@pytest.fixture(scope="module")
def seed_vss() -> Iterator[LocalVSS]:
    """A VSS of this module's own: the seed's fixed bucket names start empty."""
    with serve(peers=2, fsync=False) as running:
        yield running


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A directory with a copy of samples/, as a fresh clone has it."""
    shutil.copytree(SAMPLES, tmp_path / "samples", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


@pytest.fixture
def env(seed_vss: LocalVSS) -> Dict[str, str]:
    """The environment of each command: python3 is this interpreter, the samples find the VSS."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MICTLANX_")}
    return {**base, "PATH": os.path.dirname(sys.executable) + os.pathsep + base.get("PATH", ""),
            "MICTLANX_URI": seed_vss.uri, "MICTLANX_ROUTER_URL": seed_vss.router_url,
            "MICTLANX_PEER_URL": seed_vss.peer_urls[0]}


def sh(command: str, cwd: Path, env: Dict[str, str]) -> str:
    """Run one seed command line through /bin/sh; return its stdout (it must exit 0)."""
    proc = subprocess.run(command, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, f"{command!r} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def task_id_of(output: str) -> str:
    match = re.search(r"^task_id: (\S+)$", output, re.M)
    assert match, f"no 'task_id: ...' line in:\n{output}"
    return match.group(1)


def test_seed_peer_commands_verbatim(seed_vss: LocalVSS, workdir: Path, env: Dict[str, str]) -> None:
    out = sh(SEED_PEER[0], workdir, env)
    task_id = task_id_of(out)
    assert "mictlanx/hello-object" in out and "ball_id b1" in out

    out = sh(SEED_PEER[1].replace("t-sdfF3f124f", task_id), workdir, env)
    assert "PUT completed" in out and "20 bytes" in out
    with Peer(seed_vss.peer_urls[0]) as peer:
        meta = peer.get_metadata("mictlanx", "hello-object").metadata
        assert peer.get("mictlanx", "hello-object") == b"Hello from AsyncPeer"
    assert meta.ball_id == "b1" and meta.content_type == "text/plain"
    assert meta.tags["fullname"] == "hello.txt" and meta.tags["extension"] == "txt"

    out = sh(SEED_PEER[2], workdir, env)
    assert "Hello from AsyncPeer" in out and hashlib.sha256(b"Hello from AsyncPeer").hexdigest() in out

    out = sh(SEED_PEER[3], workdir, env)
    assert f"stored {len(FRAMES)} frames as ball_id video123" in out
    with Peer(seed_vss.peer_urls[0]) as peer:
        balls = peer.get_by_ball_id("videos", "video123").balls
        assert sorted(int(b.tags["frame_number"]) for b in balls) == list(range(len(FRAMES)))
        for ball in balls:
            assert peer.get("videos", ball.key) == FRAMES[int(ball.tags["frame_number"])].read_bytes()

    out = sh(SEED_PEER[4], workdir, env)
    played = [int(n) for n in re.findall(r"^frame (\d+) ", out, re.M)]
    assert played == list(range(len(FRAMES))), out  # frame_number order, not key order (video123_10 < _2)
    assert len(FRAMES) > 10
    assert f"played {len(FRAMES)} frames of videos/video123" in out
    assert "\x1b[" not in out  # not a terminal: one line per frame, no escape codes


def test_seed_router_commands_verbatim(seed_vss: LocalVSS, workdir: Path, env: Dict[str, str]) -> None:
    body = b"Hello from AsyncRouter"
    # The seed names step 1 both 01_put_metadata.py (its text) and 01_put_frames.py (its command).
    for step1 in SEED_ROUTER[:2]:
        task_id = task_id_of(sh(step1, workdir, env))
        out = sh(SEED_ROUTER[2].replace("<PASTE_TASK_ID>", task_id), workdir, env)
        assert "PUT completed" in out and f"{len(body)} bytes" in out
        with Router(seed_vss.router_url) as router:
            meta = router.get_metadata("bk1", "k1").metadata
            assert router.get("bk1", "k1") == body
            assert meta.ball_id == "b1" and meta.checksum == hashlib.sha256(body).hexdigest()
            router.delete("bk1", "k1")  # so that the alias starts from the same state


def test_seed_client_commands_verbatim(seed_vss: LocalVSS, workdir: Path, env: Dict[str, str]) -> None:
    hello = (workdir / "samples" / "hello.txt").read_bytes()
    out = sh(SEED_CLIENT_PUT, workdir, env)
    assert f"put mictlanx/hello-object: {len(hello)} bytes in 1 chunk(s)" in out
    with Client(seed_vss.uri, capacity_storage=0) as client:
        info = client.get_metadata("mictlanx", "hello-object")
        assert client.get("mictlanx", "hello-object").content == hello
    assert info.content_type == "text/plain"  # --tag content_type=... is the content type
    assert "content_type" not in info.tags and info.tags["fullname"] == "hello.txt"

    out = sh(SEED_CLIENT_GET, workdir, env)
    assert f"got {len(hello)} bytes of mictlanx/hello-object" in out
    assert hello.decode().strip() in out

    out = sh(SEED_CLIENT_GET_TO_FILE, workdir, env)
    target = workdir / "downloads" / "hello.txt"
    assert (workdir / "downloads").is_dir() and target.read_bytes() == hello
    assert f"saved to: {os.path.join('.', 'downloads', 'hello.txt')}" in out or str(target) in out
    # Again, with the directory now there: same file, same bytes.
    sh(SEED_CLIENT_GET_TO_FILE, workdir, env)
    assert os.listdir(workdir / "downloads") == ["hello.txt"] and target.read_bytes() == hello


def test_samples_take_explicit_overrides(seed_vss: LocalVSS, workdir: Path, env: Dict[str, str]) -> None:
    """--peer / --router / --uri win over the environment (here pointing nowhere useful)."""
    nowhere = {**env, "MICTLANX_PEER_URL": "http://127.0.0.1:9", "MICTLANX_ROUTER_URL": "http://127.0.0.1:9",
               "MICTLANX_URI": "mictlanx://r0@127.0.0.1:9/?protocol=http"}
    path = workdir / "samples" / "hello.txt"
    out = sh(f"python3 samples/peer/01_put_metadata.py --peer {seed_vss.peer_urls[1]} --bucket_id ovr "
             f"--key p1 --path {path}", workdir, nowhere)
    sh(f"python3 samples/peer/02_put_data.py --peer {seed_vss.peer_urls[1]} --task_id {task_id_of(out)} "
       f"--key p1 --path {path}", workdir, nowhere)
    with Peer(seed_vss.peer_urls[1]) as peer:
        assert peer.get("ovr", "p1") == path.read_bytes()
    out = sh(f"python3 samples/router/01_put_metadata.py --router {seed_vss.router_url} --bucket_id ovr "
             f"--key r1 --rf 2", workdir, nowhere)
    assert task_id_of(out)
    sh(f"python3 samples/client/01_put.py --uri '{seed_vss.uri}' --bucket_id ovr --key c1 --path {path} "
       f"--tag owner=me", workdir, nowhere)
    with Client(seed_vss.uri, capacity_storage=0) as client:
        assert client.get_metadata("ovr", "c1").tags["owner"] == "me"
    # With the environment pointing nowhere and no override, a sample fails with one line, exit 1.
    proc = subprocess.run("python3 samples/peer/03_get.py --bucket_id ovr --key p1", shell=True, cwd=workdir,
                          env=nowhere, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and proc.stderr.startswith("error: "), proc.stderr


def test_frames_preview_as_terminal_animation(seed_vss: LocalVSS, workdir: Path, env: Dict[str, str]) -> None:
    sh("python3 samples/peer/04_put_frames.py --bucket_id anim --ball_id clip", workdir, env)
    out = sh("python3 samples/peer/05_get_frames.py --bucket_id anim --ball_id clip --delay_ms 1 "
             "--preview ansi --out ./frames_out", workdir, env)
    assert out.count("\u2580") == len(FRAMES) * 32 * 12  # 32x24 pixels = 32 columns x 12 half-block rows
    assert "\x1b[38;2;255;64;0m" in out  # the ball's colour
    written = sorted(os.listdir(workdir / "frames_out"))
    assert written == [f"{n:03d}_{f.name}" for n, f in enumerate(FRAMES)]
    for name, frame in zip(written, FRAMES):
        assert (workdir / "frames_out" / name).read_bytes() == frame.read_bytes()


def test_make_vss_starts_the_seed_layout() -> None:
    """``make vss`` names the seed's ports, and ``vss up --peer-ports`` puts the peers there."""
    makefile = (REPO / "Makefile").read_text()
    line = next(ln for ln in makefile.splitlines() if "vss up" in ln)
    assert "--peer-ports 24000,24001" in line and "--port 60666" in line
    router, p0, p1 = free_port(), free_port(), free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mictlanx_sync", "vss", "up", "--peer-ports", f"{p0},{p1}",
                             "--port", str(router)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append(raw.strip())
            if raw.startswith("mictlanx://"):
                break
        assert lines[-1].startswith(f"mictlanx://mictlanx-router-0@127.0.0.1:{router}/"), lines
        assert f"peer mictlanx-peer-0 http://127.0.0.1:{p0}" in lines
        assert f"peer mictlanx-peer-1 http://127.0.0.1:{p1}" in lines
        for port in (p0, p1):
            with Peer(f"http://127.0.0.1:{port}") as peer:
                assert peer.health().status == "ok"
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(30)


def test_vss_up_refuses_bad_peer_ports(capsys: pytest.CaptureFixture[str]) -> None:
    for value in ("24000,24000", "0,1", "24000,", "70000", "x"):
        with pytest.raises(SystemExit) as exited:
            vss_cli.build_parser().parse_args(["up", "--peer-ports", value])
        assert exited.value.code == 2 and "--peer-ports" in capsys.readouterr().err, value
    assert vss_cli.main(["up", "--peers", "3", "--peer-ports", f"{free_port()},{free_port()}"]) == 1
    assert "2 port(s) for 3 peer(s)" in capsys.readouterr().err
