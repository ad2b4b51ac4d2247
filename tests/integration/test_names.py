"""Any object name round-trips through a live VSS: put/get/list/stat/tags/delete by the user's name."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mictlanx_sync import Client
from mictlanx_sync import _protocol as P
from mictlanx_sync import names as N
from mictlanx_sync.errors import InvalidArgumentError, NotFoundError

from .conftest import unique_bucket

_chars = st.characters(blacklist_categories=("Cc", "Cs"))
_segment = st.one_of(st.text(_chars, min_size=1, max_size=10),
                     st.sampled_from(["2024", "cat.jpg", "data.csv", ".", "..", " ", "日本", "Café"]))
names = st.one_of(
    st.text(_chars, min_size=1, max_size=30),
    st.lists(_segment, min_size=1, max_size=5).map("/".join),
    st.builds(lambda part, times: (part * times)[:300], st.text(_chars, min_size=5, max_size=20),
              st.integers(10, 60)),  # long names, cheap to generate
    st.text("abcXYZ019-_", min_size=1, max_size=20),  # often valid keys, stored under themselves
).filter(lambda n: len(n.encode("utf-8")) <= N.MAX_NAME_BYTES)


@pytest.fixture(scope="module")
def client(vss) -> Iterator[Client]:
    with Client(vss.uri, max_workers=8, chunk_size="64kb") as c:
        yield c


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.large_base_example,
                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(names, min_size=50, max_size=50, unique=True))
def test_a_thousand_names_round_trip(client: Client, batch: List[str]) -> None:
    """20 batches of 50 generated names (1,000 in all): put, list, get and delete by name."""
    bucket = unique_bucket("names")
    keys = {N.key_for(name) for name in batch}
    assert len(keys) == len(batch)  # no collision
    stored = client.put_many(bucket, [(name, name.encode("utf-8")) for name in batch])
    assert all(r.ok for r in stored), [r.error for r in stored if not r.ok][:3]
    assert [r.value.name for r in stored if r.value] == batch
    listing = client.list_objects(bucket)
    assert [o.name for o in listing.objects] == sorted(batch)
    assert all(o.key == N.key_for(o.name) for o in listing.objects)
    got = client.get_many(bucket, batch)
    assert [g.value.content.decode("utf-8") for g in got if g.value] == batch
    assert [g.value.info.name for g in got if g.value] == batch
    with ThreadPoolExecutor(8) as pool:
        deleted = list(pool.map(lambda n: client.delete(bucket, n), batch))
    assert all(count >= 1 for count in deleted)
    assert client.list_objects(bucket).objects == ()


def test_paths_dots_and_unicode_are_names(client: Client, bucket: str) -> None:
    for name in ("report.pdf", "report-pdf", "2024/cat.jpg", "日本", "a b/c d.txt"):
        put = client.put(bucket, name, name.encode())
        assert put.name == name and P.check_id(put.key) == put.key
        info = client.stat(bucket, name)
        assert (info.name, info.key, info.size) == (name, put.key, len(name.encode()))
        assert client.exists(bucket, name)
        assert client.get(bucket, name).content == name.encode()
        # the stored key is what another MictlanX client uses; it reads the same object
        assert client.get(bucket, put.key).content == name.encode()
    assert client.stat(bucket, "report-pdf").key == "report-pdf"  # a valid key is stored as itself
    assert client.stat(bucket, "report.pdf").key != "report-pdf"
    assert not client.exists(bucket, "report.PDF")


def test_tags_stat_and_delete_by_name(client: Client, bucket: str) -> None:
    client.put(bucket, "x/y.txt", b"abc", tags={"owner": "me"})
    info = client.update_tags(bucket, "x/y.txt", {"lang": "en"})
    assert info.name == "x/y.txt" and info.tags == {**info.tags, "owner": "me", "lang": "en"}
    assert P.TAG_NAME not in info.tags  # reserved, not a user tag
    with pytest.raises(InvalidArgumentError, match="reserved"):
        client.put(bucket, "z", b"1", tags={P.TAG_NAME: "spoof"})
    with pytest.raises(InvalidArgumentError, match="reserved"):
        client.update_tags(bucket, "x/y.txt", {P.TAG_NAME: "spoof"})
    assert client.delete(bucket, "x/y.txt") >= 1
    assert not client.exists(bucket, "x/y.txt")
    with pytest.raises(NotFoundError):
        client.get(bucket, "x/y.txt")


def test_a_key_holding_another_object_is_not_the_name(client: Client, bucket: str) -> None:
    key = N.key_for("notes.txt")
    client.put(bucket, key, b"someone else's object")  # stored under the key itself, no name tag
    with pytest.raises(NotFoundError, match="notes.txt"):
        client.get(bucket, "notes.txt")
    assert not client.exists(bucket, "notes.txt")
    assert client.get(bucket, key).content == b"someone else's object"


def test_prefix_and_delimiter_listings(client: Client, bucket: str) -> None:
    for name in ("2024/a.csv", "2024/q1/b.csv", "2024/q1/c.csv", "2024x", "2025/d.csv", "top.txt"):
        client.put(bucket, name, b"data:" + name.encode())
    client.put(bucket, "2024/empty", b"")
    assert [o.name for o in client.get_bucket_metadata(bucket, prefix="2024/")] == \
        ["2024/a.csv", "2024/q1/b.csv", "2024/q1/c.csv"]  # routers leave the empty object out
    assert len(client.get_bucket_metadata(bucket)) == 6
    page = client.list_objects(bucket, delimiter="/")
    assert [o.name for o in page.objects] == ["2024x", "top.txt"]
    assert page.prefixes == ("2024/", "2025/")
    page = client.list_objects(bucket, "2024/", delimiter="/")
    assert [o.name for o in page.objects] == ["2024/a.csv", "2024/empty"]  # our VSS lists empty ones
    assert page.prefixes == ("2024/q1/",)
    page = client.list_objects(bucket, "2024/q1/")
    assert [(o.name, o.size) for o in page.objects] == [("2024/q1/b.csv", 18), ("2024/q1/c.csv", 18)]
    assert client.list_objects(bucket, "nothing/").objects == ()
    with pytest.raises(InvalidArgumentError):
        client.list_objects(bucket, delimiter="")
    with pytest.raises(InvalidArgumentError):
        client.get_bucket_metadata(bucket, prefix=5)  # type: ignore[arg-type]


def test_get_to_file_names_the_file_after_the_name(client: Client, bucket: str, tmp_path) -> None:
    client.put(bucket, "photos/2024/cat.jpg", b"meow")
    target = client.get_to_file(bucket, "photos/2024/cat.jpg", tmp_path)
    assert os.path.basename(target) == "cat.jpg" and open(target, "rb").read() == b"meow"
