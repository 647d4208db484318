"""The first use of the numba kernels in an install compiles them: a one-line message says so."""

import os
import subprocess
import sys

import pytest

from cfensemble._kernels import numba_available

pytestmark = [
    pytest.mark.numba,
    pytest.mark.skipif(not numba_available(), reason="numba not installed"),
]
MESSAGE = "compiling the numba kernels"


def test_a_cold_cache_is_announced_once(tmp_path):
    code = "import cfensemble._kernels_numba"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "empty")}
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count(MESSAGE) == 1


def test_a_warm_cache_is_not(monkeypatch):
    from cfensemble import _kernels_numba

    monkeypatch.setattr(os.path, "exists", lambda path: True)
    assert _kernels_numba._compiled_before()
    monkeypatch.setattr(os.path, "exists", lambda path: False)
    assert not _kernels_numba._compiled_before()
