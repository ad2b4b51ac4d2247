"""A client that distrusts servers (issue 11.6) and bounded waits (issue 12.3), against the hostile
router of ``tests/doubles/hostile.py``: one test per misbehaviour.

Every failure must be a typed ``MictlanXError`` (never ValueError/OSError/MemoryError), raised
before any data is fetched when the metadata already shows the problem, and leave no ``.part``.
"""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import os
import sys
from typing import Any, Iterator

import pytest

from mictlanx_sync import Client
from mictlanx_sync.config import ClientConfig, RetryConfig, Timeouts
from mictlanx_sync.errors import (
    IntegrityError,
    InvalidArgumentError,
    MictlanXError,
    ProtocolError,
    RequestTimeoutError,
)


def _load_hostile() -> Any:
    name = "mictlanx_doubles_hostile"
    if name not in sys.modules:
        path = os.path.join(os.path.dirname(__file__), os.pardir, "doubles", "hostile.py")
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


hostile = _load_hostile()
pytestmark = pytest.mark.timeout(60)
FAST_RETRY = RetryConfig(total=1, backoff_factor=0.01, backoff_max=0.05, backoff_jitter=0.0, chunk_attempts=2)


@pytest.fixture
def router() -> Iterator[Any]:
    with hostile.HostileRouter() as server:
        yield server


@pytest.fixture
def other() -> Iterator[Any]:
    """A second origin: a redirect target that must never be reached."""
    with hostile.HostileRouter() as server:
        yield server


def _client(router: Any, **kwargs: Any) -> Client:
    kwargs.setdefault("config", ClientConfig(retry=FAST_RETRY))
    return Client(router.uri, capacity_storage=0, **kwargs)


def _chain(exc: BaseException) -> list:
    """``exc`` and its causes (``TransferError.cause``, ``__cause__``, ``__context__``)."""
    seen = []
    current: Any = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "cause", None) or current.__cause__ or current.__context__
    return seen


def _assert_timed_out(exc: BaseException) -> None:
    assert isinstance(exc, MictlanXError), repr(exc)
    assert any(isinstance(e, RequestTimeoutError) for e in _chain(exc)), repr(exc)


def _part_files(directory: Any) -> list:
    return [name for name in os.listdir(directory) if name.endswith(".part")]


# --------------------------------------------------------------------------- bounded waits (12.3)
def test_silent_router_ls_get_put_fail_with_request_timeout(router: Any) -> None:
    """A router that accepts and never answers: each call fails with RequestTimeoutError (old
    code: no ``timeout=``; with its defaults put took 6 min and ls 6 min 40 s)."""
    router.plant("b", "k", b"hello")
    router.silent = True
    with _client(router, timeout=0.3) as client:
        for call in (lambda: client.get_bucket_metadata("b"), lambda: client.get("b", "k"),
                     lambda: client.put("b", "new", b"data"), lambda: client.get_metadata("b", "k")):
            with pytest.raises(MictlanXError) as info:
                call()
            _assert_timed_out(info.value)


def test_metadata_deadline_caps_retries_before_the_read_timeout(router: Any) -> None:
    """The per-call deadline (``Timeouts.metadata``) ends a metadata call with retries and
    failover pending: here before even one 30 s read timeout could expire."""
    router.silent = True
    config = ClientConfig(timeouts=Timeouts(connect=1, read=30, metadata=0.5),
                          retry=RetryConfig(total=5, chunk_attempts=5))
    with Client(router.uri, capacity_storage=0, config=config) as client:
        with pytest.raises(RequestTimeoutError, match="deadline"):
            client.get_bucket_metadata("b")


def test_trickled_json_reply_ends_at_the_metadata_deadline(router: Any) -> None:
    """1 byte per 50 ms: each socket read succeeds, so only a deadline ends it."""
    for i in range(50):
        router.plant("b", f"k{i}", b"x")
    router.trickle = 0.05
    config = ClientConfig(timeouts=Timeouts(connect=1, read=5, metadata=1), retry=FAST_RETRY)
    with Client(router.uri, capacity_storage=0, config=config) as client:
        with pytest.raises(RequestTimeoutError):
            client.get_bucket_metadata("b")


def test_trickled_data_ends_at_the_operation_deadline(router: Any, tmp_path: Any) -> None:
    data = os.urandom(4000)
    router.plant("b", "k", data, tags={"fullname": "k.bin"})
    with _client(router) as client:
        assert client.get("b", "k").content == data  # honest first
        router.trickle = 0.05
        slow = Client(router.uri, capacity_storage=0, config=ClientConfig(retry=FAST_RETRY), timeout=5,
                      deadline=1)
        with slow:
            with pytest.raises(MictlanXError) as info:
                slow.get("b", "k")
            _assert_timed_out(info.value)
            with pytest.raises(MictlanXError) as info:
                slow.get_to_file("b", "k", str(tmp_path))
            _assert_timed_out(info.value)
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------- reply size cap
def test_json_reply_larger_than_the_cap_is_refused(router: Any) -> None:
    router.plant("b", "k", b"x")
    router.json_padding = 3 << 20
    config = ClientConfig(retry=FAST_RETRY, max_reply_size="1MiB")
    with Client(router.uri, capacity_storage=0, config=config) as client:
        with pytest.raises(ProtocolError, match="limit of 1048576 bytes"):
            client.get_bucket_metadata("b")
        with pytest.raises(ProtocolError):
            client.get_metadata("b", "k")


def test_endless_json_reply_is_cut_at_the_cap(router: Any) -> None:
    """No Content-Length and no end: old code read until memory ran out."""
    router.endless_json = True
    config = ClientConfig(retry=FAST_RETRY, max_reply_size="2MiB")
    with Client(router.uri, capacity_storage=0, config=config) as client:
        with pytest.raises(ProtocolError, match="max_reply_size"):
            client.get_bucket_metadata("b")


# -------------------------------------------------------------------------------------- redirects
def test_redirect_of_step_2_is_not_followed_to_another_origin(router: Any, other: Any) -> None:
    """A 307 on step 2 would re-send the object's bytes to the other origin (old code did)."""
    router.redirect_to = other.base_url
    router.redirect_methods = ("POST",)
    router.redirect_paths = "/chunked"
    with _client(router) as client:
        with pytest.raises(MictlanXError) as info:
            client.put("b", "k", b"secret bytes")
    assert any(isinstance(e, ProtocolError) and e.status == 307 for e in _chain(info.value)), repr(info.value)
    assert other.requests == []


def test_redirect_of_a_get_is_not_followed(router: Any, other: Any) -> None:
    other.plant("b", "k", b"from elsewhere")
    router.redirect_to = other.base_url
    with _client(router) as client:
        with pytest.raises(ProtocolError, match="redirect"):
            client.get_bucket_metadata("b")
        with pytest.raises(MictlanXError):
            client.get("b", "k")
    assert other.requests == []


# ---------------------------------------------------------------------------- metadata sanity
def _data_fetched(router: Any, key: str, reads: int) -> list[str]:
    """Data GETs of ``key`` (the bare ball) and of ``{key}_0`` beyond the one chunk-0 look-ahead
    each read call sends beside its listing (issue 15: at most 1 MiB read, used only when the
    listing confirms it). Empty when nothing was fetched after the metadata showed the problem."""
    bare = [p for p in router.requests_to("GET", f"/buckets/b/{key}") if p.endswith(f"/b/{key}")]
    return bare + router.requests_to("GET", f"/buckets/b/{key}_0")[reads:]


def test_num_chunks_of_a_billion_fails_without_building_a_list(router: Any) -> None:
    router.plant("b", "k_0", b"abc", ball_id="k",
                 tags={"index": "0", "num_chunks": str(10 ** 9), "full_checksum": "0" * 64})
    with _client(router) as client:
        with pytest.raises(IntegrityError, match="of 1000000000 are missing"):
            client.get("b", "k")
    assert _data_fetched(router, "k", reads=1) == []  # no data fetched


@pytest.mark.parametrize("size", [-5, 10 ** 18], ids=["negative", "absurd"])
def test_impossible_size_fails_before_any_data_is_fetched(router: Any, tmp_path: Any, size: int) -> None:
    router.plant("b", "k", b"abc", size=size)
    router.plant("b", "c_0", b"abc", size=size)
    with _client(router) as client:
        with pytest.raises(ProtocolError, match="claims a size"):
            client.get("b", "k")
        with pytest.raises(ProtocolError, match="claims a size"):
            client.get_to_file("b", "k", str(tmp_path))
        with pytest.raises(ProtocolError, match="claims a size"):
            client.get_chunk("b", "c", 0)
    assert _data_fetched(router, "k", reads=2) == []
    assert router.requests_to("GET", "/buckets/b/c_0") == []
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["evil\x00name.txt", "n" * 300], ids=["nul", "300-chars"])
def test_unusable_fullname_tag_fails_before_any_data_is_fetched(router: Any, tmp_path: Any, name: str) -> None:
    router.plant("b", "k", b"abc", tags={"fullname": name})
    with _client(router) as client:
        with pytest.raises(ProtocolError, match="fullname tag"):
            client.get_to_file("b", "k", str(tmp_path))
        with pytest.raises(InvalidArgumentError):
            client.get_to_file("b", "k", str(tmp_path), fullname=name)
        assert _data_fetched(router, "k", reads=2) == []
        # The caller can still choose a name.
        path = client.get_to_file("b", "k", str(tmp_path), fullname="ok.txt")
    with open(os.fspath(path), "rb") as file:
        assert file.read() == b"abc"
    assert _part_files(tmp_path) == []


# ------------------------------------------------------------------------------- no .part left
def test_no_part_file_when_ftruncate_fails(router: Any, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(3000)
    router.plant("b", "k", data, checksum=hashlib.sha256(data).hexdigest())
    import mictlanx_sync.transfer.sink as sink

    def no_space(fd: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(sink.os, "ftruncate", no_space)
    with _client(router) as client:
        with pytest.raises(OSError):
            client.get_to_file("b", "k", str(tmp_path / "out.bin"))
    assert _part_files(tmp_path) == []
    assert os.listdir(tmp_path) == []


def test_honest_round_trip_through_the_double(router: Any) -> None:
    """The double is good enough for the real client when it behaves."""
    data = os.urandom(250_000)
    with _client(router, chunk_size="64KB") as client:
        client.put("b", "k", data)
        assert client.get("b", "k").content == data
        assert [o.key for o in client.get_bucket_metadata("b")] == ["k"]


def test_cli_timeout_option_bounds_ls_against_a_silent_router(router: Any,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    from mictlanx_sync.cli import main

    router.silent = True
    assert main(["--uri", router.uri, "--timeout", "0.3", "ls", "b"]) == 9  # 9: timeout
    assert "deadline" in capsys.readouterr().err  # the message says why it gave up
    assert main(["--uri", router.uri, "--timeout", "0", "ls", "b"]) == 2  # not a positive number
