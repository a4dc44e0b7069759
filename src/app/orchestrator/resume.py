"""What earlier sessions of a sweep folder did: the basis of `hydra.launcher.resume=true`.

A run is known by its overrides (order aside), so a run that succeeded earlier is recognised even
if the grid was written in another order.  Sources: `runs.tsv` (runs that ended), the plans
(`plan.tsv`, and `.superior/plan.s<k>.tsv` kept when a grid changed) and the journal (runs that
started: a start with no row in runs.tsv was cut short by a kill of the orchestrator).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from app.orchestrator.errors import SuperiorError
from app.orchestrator.plan import run_key
from app.orchestrator.records import Journal, read_tsv
from app.orchestrator.settings import LauncherSettings

META_DIR = ".superior"
SWEEP_FILES = ("plan.tsv", "runs.tsv", "early_stop.log", "superior.log")


def sweep_dir_of(config: DictConfig) -> Path:
    return Path(str(config.hydra.sweep.dir)).absolute()


def holds_sweep(sweep_dir: Path) -> bool:
    return (sweep_dir / "plan.tsv").is_file()


def check_resumable(settings: LauncherSettings, config: DictConfig) -> None:
    sweep_dir = sweep_dir_of(config)
    if settings.resume and not holds_sweep(sweep_dir):
        raise SuperiorError(
            f"resume: {sweep_dir} holds no superior sweep (no plan.tsv); "
            "name the folder of the sweep to resume with hydra.sweep.dir=<folder>"
        )


def archive_previous(sweep_dir: Path) -> Path | None:
    """A new (not resumed) sweep in a folder that holds one: keep the old records aside.

    Job folders are then overwritten from job 0, as Hydra's other launchers do; resume=true is the
    way to complete a sweep instead.
    """
    if not holds_sweep(sweep_dir):
        return None
    dest = sweep_dir / META_DIR / "archive" / time.strftime("%Y%m%d-%H%M%S")
    dest.mkdir(parents=True, exist_ok=True)
    for name in SWEEP_FILES:
        if (sweep_dir / name).exists():
            shutil.move(str(sweep_dir / name), str(dest / name))
    for name in ("logs",):
        if (sweep_dir / name).is_dir():
            shutil.move(str(sweep_dir / name), str(dest / name))
    meta = sweep_dir / META_DIR
    for child in list(meta.iterdir()):
        if child.name != "archive":
            shutil.move(str(child), str(dest / child.name))
    return dest


@dataclass
class PreviousSweep:
    rows: list[dict] = field(default_factory=list)  # runs.tsv
    plan_rows: list[dict] = field(default_factory=list)  # plan.tsv + archived plans
    plan_rows_latest: list[dict] = field(default_factory=list)  # plan.tsv
    starts: list[dict] = field(default_factory=list)  # journal start events

    @classmethod
    def load(cls, sweep_dir: Path) -> PreviousSweep:
        meta = sweep_dir / META_DIR
        latest = read_tsv(sweep_dir / "plan.tsv")
        plan_rows = list(latest)
        for old in sorted(meta.glob("plan.s*.tsv")):
            plan_rows.extend(read_tsv(old))
        starts = [e for e in Journal(meta / "journal.jsonl").read() if e.get("ev") == "start"]
        return cls(rows=read_tsv(sweep_dir / "runs.tsv"), plan_rows=plan_rows, plan_rows_latest=latest, starts=starts)

    @property
    def last_session(self) -> int:
        sessions = [int(r["session"]) for r in self.rows if r.get("session")]
        sessions += [int(e["session"]) for e in self.starts]
        return max(sessions, default=0)

    def job_nums_used(self) -> set[int]:
        used = {int(r["job_num"]) for r in self.rows if r.get("job_num")}
        used |= {int(e["job_num"]) for e in self.starts}
        return used

    def key_by_run_id(self) -> dict[str, str]:
        keys: dict[str, str] = {}
        for r in self.plan_rows:
            try:
                keys[r["run_id"]] = run_key(json.loads(r["overrides"]))
            except (KeyError, ValueError):
                continue
        for e in self.starts:
            keys.setdefault(e["run_id"], e["key"])
        return keys

    def run_index_by_key(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for run_id, key in self.key_by_run_id().items():
            out.setdefault(key, int(run_id.split("_")[-1]))
        return out

    def plan_keys(self) -> set[str]:
        """The runs of the latest plan (the grid the sweep had)."""
        keys = set()
        for r in self.plan_rows_latest:
            try:
                keys.add(run_key(json.loads(r["overrides"])))
            except (KeyError, ValueError):
                continue
        return keys

    def succeeded(self) -> dict[str, dict]:
        """run key -> the row of its success (a skipped_resume row points at the same results)."""
        keys = self.key_by_run_id()
        out: dict[str, dict] = {}
        for r in self.rows:
            if r.get("status") in ("success", "skipped_resume") and r.get("run_id") in keys:
                out.setdefault(keys[r["run_id"]], r)
        return out

    def dangling_starts(self) -> list[dict]:
        """Runs that started but never ended in the records: the orchestrator was killed."""
        ended = {(r.get("job_num") or "") for r in self.rows}
        return [e for e in self.starts if str(e["job_num"]) not in ended]
