"""Test-wide settings.

Hypothesis runs derandomized (a fixed sequence of examples per test, no example database) so that
`make test` gives the same verdict on every run; explore with other seeds locally with
``pytest --hypothesis-seed=random`` (or ``HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
