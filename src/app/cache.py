"""Content-keyed folders (prepared data, trained models): built once, atomically, under a lock.

A folder is finished only when it exists under its final name with a `.complete` marker: it is
built under a temporary name and renamed, so an interrupted build never looks finished, and two
runs of a sweep asking for the same folder build it once (the second waits on the lock, then reuses).
"""

import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

log = logging.getLogger(__name__)
COMPLETE = ".complete"


def fingerprint(payload: Any, length: int = 16) -> str:
    blob = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def is_complete(folder: Path) -> bool:
    return (folder / COMPLETE).is_file()


def build_once(folder: Path, build: Callable[[Path], None], what: str) -> bool:
    """Build `folder` with `build(tmp_dir)` unless a finished one exists. Returns True if reused."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder) + ".lock"):
        if is_complete(folder):
            log.info("%s: reusing %s", what, folder)
            return True
        tmp = folder.parent / f".{folder.name}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        try:
            build(tmp)
            (tmp / COMPLETE).write_text("")
            if folder.exists():  # an unfinished leftover from a killed run
                shutil.rmtree(folder)
            os.replace(tmp, folder)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    log.info("%s: built %s", what, folder)
    return False


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically (temp file + rename): readers never see half a file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)
