"""The sweep folder's records, written so that they stay valid if the orchestrator is killed.

- `plan.tsv` and `runs.tsv` are rewritten whole: temporary file, fsync, `os.replace` (atomic on
  POSIX), so a reader sees the old or the new version, never half a line.
- `.superior/journal.jsonl` is append-only and fsynced before a run starts: a run that started
  but has no row in `runs.tsv` (the orchestrator was killed) is found there on resume, and its job
  number is never given to another run.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any, Iterable

PLAN_COLUMNS = [
    "run_id", "run_index", "combo", "repeat", "seed", "resource_class", "est_ram_mb", "weight",
    "plan_status", "axis_values", "overrides",
]
RUNS_COLUMNS = [
    "run_id", "session", "attempt", "job_num", "status", "exit_code", "start", "end", "duration_s",
    "peak_rss_mb", "resource_class", "est_ram_mb", "seed", "repeat", "axis_values", "quality_ok",
    "quality_flags", "metrics_paths", "log_path", "job_dir", "overrides", "note",
]

# statuses a run can end with (runs.tsv); the first is the only success
STATUSES = (
    "success", "failed", "oom", "skipped_oom", "aborted_oom_policy", "interrupted", "skipped_resume",
    "skipped_early_stop",
)
# statuses that make the multirun exit non-zero
FAILED_STATUSES = ("failed", "oom", "skipped_oom", "aborted_oom_policy", "interrupted")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.3f}".rstrip("0").rstrip(".") if value == value else ""
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, sort_keys=isinstance(value, dict))
    return str(value).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def write_tsv(path: Path, columns: list[str], rows: Iterable[dict[str, Any]]) -> None:
    """Plain TSV, no quoting (cells never hold a tab or a newline): JSON cells stay readable."""
    lines = ["\t".join(columns)]
    lines.extend("\t".join(_cell(row.get(c)) for c in columns) for row in rows)
    atomic_write_text(path, "\n".join(lines) + "\n")


def read_tsv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


class Journal:
    """Append-only JSON lines, fsynced: the orchestrator's memory of what it started."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def append(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> list[dict[str, Any]]:
        if not self.path.is_file():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by a kill: the event did not happen
        return events


def append_line(path: Path, line: str) -> None:
    with open(path, "a", encoding="utf-8") as f:
        f.write(line.rstrip("\n") + "\n")
        f.flush()
