"""Shared test helpers: run the real CLI (`python -m app`) in a subprocess, in temp folders."""

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


def run_app(*args: str, cwd: Path = REPO, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}  # tests see what users see
    full_env = {**base, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


class AppRunner:
    """`python -m app` with its run folder and cache inside a test's tmp_path."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.cache = tmp_path / "cache"
        self.n = 0

    def __call__(self, *args: str, cache: Path | None = None, ok: bool = True, **kw) -> subprocess.CompletedProcess:
        self.n += 1
        self.run_dir = self.tmp / f"run{self.n}"
        proc = run_app(*args, f"hydra.run.dir={self.run_dir}", f"paths.cache_dir={cache or self.cache}",
                       "progress=false", **kw)
        if ok and proc.returncode != 0:
            raise AssertionError(f"python -m app {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return proc

    def record(self) -> dict:
        return json.loads((self.run_dir / "run.json").read_text())

    def metrics(self, family: str, model_id: str) -> dict:
        return json.loads((self.run_dir / "reports" / family / model_id / "metrics.json").read_text())


@pytest.fixture
def app_run(tmp_path: Path) -> AppRunner:
    return AppRunner(tmp_path)



@pytest.fixture(autouse=True)
def restore_hydra_singletons():
    """Tests that compose configs in-process (hydra.compose) must not leak Hydra's global state into
    the next test (Hydra's own test suites rely on a clean state; same as Hydra's fixture)."""
    from hydra.core.singleton import Singleton

    import app.config_schema  # noqa: F401  (registers the schema: it must be part of the saved state)

    state = copy.deepcopy(Singleton.get_state())
    yield
    Singleton.set_state(state)
