"""``progress=True`` draws a ``tqdm.auto`` bar (a widget in notebooks) that stays when finished
(issue 12, item 10)."""

from __future__ import annotations

import io

import pytest

from mictlanx_sync.transfer.progress import Progress

tqdm_auto = pytest.importorskip("tqdm.auto")


def test_progress_bar_is_tqdm_auto_and_stays_when_finished(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    meter = Progress(1000, True, description="put k")
    bar = meter._bar  # noqa: SLF001 - the bar itself is what is checked
    assert isinstance(bar, tqdm_auto.tqdm)
    meter.add(600)
    meter.add(400)
    meter.close()
    assert bar.leave is True
    assert err.getvalue().endswith("\n")  # a bar that is cleared (leave=False) ends without a newline
    assert "put k: 100%" in err.getvalue().splitlines()[-1]
