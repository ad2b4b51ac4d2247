"""With one of two peers down, listings and not-found errors say so, and ``peers`` shows the dead
peer as unavailable (issue 12, item 5)."""

from __future__ import annotations

from typing import Any

import pytest

from mictlanx_sync import Client, cli
from mictlanx_sync.errors import NotFoundError


def test_a_dead_peer_is_visible_in_listings_errors_and_peers(vss_factory: Any, h: Any, capsys: Any) -> None:
    vss = vss_factory(peers=2)
    bucket = h.unique("up")
    with Client(vss.uri) as client:
        placed = {f"k{i}": client.put(bucket, f"k{i}", b"data %d" % i).replicas for i in range(12)}
        on_dead = sorted(k for k, peers in placed.items() if peers == ("mictlanx-peer-1",))
        assert on_dead and len(on_dead) < 12, placed  # the router spreads objects over both peers
        vss.stop_peer(1)
        router = client.routers[0]
        assert h.wait_until(lambda: [p.peer_id for p in router.get_peers().unavailable] == ["mictlanx-peer-1"],
                            timeout=30)

        listing = client.get_bucket_metadata(bucket)
        assert len(listing) == 12 - len(on_dead)
        assert listing.unavailable_peers == ("mictlanx-peer-1",)
        assert "1 of 2 peers unavailable (mictlanx-peer-1)" in listing.warning

        with pytest.raises(NotFoundError) as caught:
            client.get(bucket, on_dead[0])
        assert "1 of 2 peers unavailable (mictlanx-peer-1)" in str(caught.value)
        assert caught.value.unavailable_peers == ("mictlanx-peer-1",)  # type: ignore[attr-defined]

    capsys.readouterr()
    assert cli.main(["--uri", vss.uri, "ls", bucket]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 12 - len(on_dead)
    assert "warning: 1 of 2 peers unavailable (mictlanx-peer-1)" in err and "incomplete" in err

    assert cli.main(["--uri", vss.uri, "get", bucket, on_dead[0], "-o", "-"]) == 4
    out, err = capsys.readouterr()
    assert "not found" in err and "1 of 2 peers unavailable" in err

    assert cli.main(["--uri", vss.uri, "peers"]) == 0
    out, err = capsys.readouterr()
    lines = dict(line.split("\t", 1) for line in out.splitlines())
    assert set(lines) == {"mictlanx-peer-0", "mictlanx-peer-1"}
    assert lines["mictlanx-peer-1"].startswith("UNAVAILABLE")
    assert "1 peer(s) unavailable: mictlanx-peer-1" in err
