"""The OpenBLAS kernel is chosen before the extension loads OpenBLAS
(docs/blas.md): asked for with CIRCUITC_BLAS_CORE, it is the one OpenBLAS
runs; a user's OPENBLAS_CORETYPE is never overridden."""

import os
import subprocess
import sys

import pytest

# What the OpenBLAS the extension loaded runs (the same library object: ctypes finds it loaded).
PROBE = """
import ctypes, os, warnings
warnings.simplefilter("error")
import circuitc
blas = ctypes.CDLL("libopenblas.so.0")
blas.openblas_get_corename.restype = ctypes.c_char_p
blas.openblas_get_config.restype = ctypes.c_char_p
print(blas.openblas_get_corename().decode(), os.environ.get("OPENBLAS_CORETYPE"),
      "DYNAMIC_ARCH" in blas.openblas_get_config().decode())
"""


def _import(**env):
    full = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "CIRCUITC_BLAS_CORE")}
    full.update(env)
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=full)
    assert run.returncode == 0, run.stderr
    core, coretype, dynamic = run.stdout.split()
    if dynamic != "True":
        pytest.skip("this OpenBLAS has one kernel (no DYNAMIC_ARCH)")
    return core, coretype


def test_requested_kernel_is_loaded():
    # Prescott: never the library's own choice on an x86-64 with AVX
    assert _import(CIRCUITC_BLAS_CORE="prescott") == ("Prescott", "Prescott")


def test_user_coretype_is_never_overridden():
    assert _import(OPENBLAS_CORETYPE="Haswell", CIRCUITC_BLAS_CORE="Prescott") == ("Haswell", "Haswell")


def test_bad_request_warns():
    full = dict(os.environ, CIRCUITC_BLAS_CORE="Skylake")
    full.pop("OPENBLAS_CORETYPE", None)
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=full)
    assert run.returncode != 0
    assert "Skylake" in run.stderr and "is not an OpenBLAS core" in run.stderr
