"""The package as a user installs it (issue 12, item 10): type checkers see it in a ``make install``
venv, and its metadata carries no deprecated license classifier (setuptools >= 77 warns on it)."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_license_is_an_spdx_expression_without_classifier() -> None:
    config = configparser.ConfigParser()
    config.read(os.path.join(ROOT, "setup.cfg"))
    assert config["metadata"]["license"].strip() == "MIT"
    assert "License ::" not in config["metadata"]["classifiers"]


@pytest.mark.timeout(120)
def test_mypy_sees_the_installed_package_from_a_users_script(tmp_path) -> None:
    if shutil.which("mypy", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("mypy is not installed next to this interpreter")
    script = tmp_path / "user.py"
    script.write_text("from mictlanx_sync import Client\nreveal_type(Client)\n")
    result = subprocess.run([sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"),
                             "--follow-imports=silent", str(script)],
                            cwd=str(tmp_path), capture_output=True, text=True, check=False)
    assert "mictlanx_sync.client.Client" in result.stdout, result.stdout + result.stderr
