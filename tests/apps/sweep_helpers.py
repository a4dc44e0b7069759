"""Helpers for the `superior` launcher tests (tests/test_launcher_*.py): memory_app sweeps in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from app.orchestrator.records import read_tsv

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "tests" / "apps" / "memory_app.py"


def app_env(tmp_path: Path) -> dict[str, str]:
    empty_conf = tmp_path / "no_ideolab_conf"
    empty_conf.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO / "src"), env.get("PYTHONPATH", "")] if p)
    # memory_app is not ideolab: keep ideolab's search path plugin from adding its conf/ (slower)
    env["IDEOLAB_CONF"] = str(empty_conf)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def sweep_cmd(sweep_dir: Path, *overrides: str) -> list[str]:
    return [sys.executable, str(APP), "-m", "hydra/launcher=superior", f"hydra.sweep.dir={sweep_dir}", *overrides]


@dataclass
class Sweep:
    proc: subprocess.CompletedProcess
    dir: Path

    @property
    def rc(self) -> int:
        return self.proc.returncode

    @property
    def stderr(self) -> str:
        return self.proc.stderr

    def runs(self) -> list[dict[str, str]]:
        return read_tsv(self.dir / "runs.tsv")

    def plan(self) -> list[dict[str, str]]:
        return read_tsv(self.dir / "plan.tsv")

    def statuses(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for r in self.runs():
            out.setdefault(r["run_id"], []).append(r["status"])
        return out

    def run_json(self, row: dict[str, str]) -> dict:
        return json.loads((self.dir / row["job_dir"] / "run.json").read_text())

    def job_dirs(self) -> list[Path]:
        return sorted(p for p in self.dir.iterdir() if p.is_dir() and p.name[0].isdigit())


def run_sweep(tmp_path: Path, *overrides: str, name: str = "sweep", timeout: float = 180) -> Sweep:
    sweep_dir = tmp_path / name
    proc = subprocess.run(
        sweep_cmd(sweep_dir, *overrides), capture_output=True, text=True, env=app_env(tmp_path),
        cwd=tmp_path, timeout=timeout,
    )
    return Sweep(proc, sweep_dir)


def explain(s: Sweep) -> str:
    return f"rc={s.rc}\nstderr:\n{s.stderr[-3000:]}\nruns.tsv:\n" + (
        (s.dir / "runs.tsv").read_text() if (s.dir / "runs.tsv").exists() else "(none)"
    )
