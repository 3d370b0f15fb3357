"""Shared fixtures: the bundled model, the circuitc CLI for parity checks and
the family fixtures of golden/models."""

import json
import os
import pathlib
import subprocess

import pytest

import circuitc

SOURCE_ROOT = pathlib.Path(__file__).resolve().parents[2]
FAMILY_MODELS = SOURCE_ROOT / "golden" / "models"
ENVELOPE = ("command", "version", "model", "processing", "seconds")


def _cli_path():
    path = os.environ.get("CIRCUITC_BIN") or str(SOURCE_ROOT / "build" / "src" / "circuitc")
    return path if os.access(path, os.X_OK) else None


@pytest.fixture(scope="session")
def model():
    return circuitc.load()


@pytest.fixture(scope="session")
def cli():
    """cli(*args) -> the JSON body `circuitc ARGS --json` prints (envelope removed)."""
    path = _cli_path()
    if path is None:
        pytest.skip("no circuitc executable: set CIRCUITC_BIN (scripts/test does) or build build/src/circuitc")

    def run(*args):
        done = subprocess.run([path, *args, "--json"], capture_output=True, text=True)
        assert done.returncode == 0, f"circuitc {' '.join(args)}: {done.stderr}"
        body = json.loads(done.stdout)
        for key in ENVELOPE:
            body.pop(key)
        return body

    return run


def printed(value):
    """VALUE as the CLI prints it: floats to 9 significant digits (JSON_REAL_PRECISION(9)),
    keys that time the run dropped."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, list):
        return [printed(v) for v in value]
    if isinstance(value, dict):
        return {k: printed(v) for k, v in value.items() if "seconds" not in k}
    return value
