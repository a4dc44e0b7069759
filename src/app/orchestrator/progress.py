"""Live progress: one line per change (a run starts or ends), on stderr and in `superior.log`."""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from pathlib import Path

from app.orchestrator.records import append_line


def hms(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, log_path: Path, to_stderr: bool, parallel: int, durations: Mapping[str, list[float]]) -> None:
        self.log_path = log_path
        self.to_stderr = to_stderr
        self.parallel = parallel
        self.t0 = time.monotonic()
        # resource class -> durations of the runs that succeeded: the scheduler's record, read here
        self.durations = durations

    def say(self, message: str) -> None:
        line = f"[superior {time.strftime('%H:%M:%S')}] {message}"
        append_line(self.log_path, line)
        if self.to_stderr:
            print(line, file=sys.stderr, flush=True)

    def _mean(self, resource_class: str) -> float:
        own = self.durations.get(resource_class)
        if own:
            return sum(own) / len(own)
        every = [d for ds in self.durations.values() for d in ds]
        return sum(every) / len(every)

    def status(self, done: int, failed: int, running: list[tuple[str, float]], pending: list[str]) -> str:
        """running: (class, seconds so far) per running run; pending: the class of each pending run."""
        elapsed = time.monotonic() - self.t0
        text = f"{done} done ({failed} not ok), {len(running)} running, {len(pending)} pending, elapsed {hms(elapsed)}"
        if self.durations and (running or pending):
            # work left: each pending run its class's mean duration, each running one what its
            # class's mean leaves of it; spread over the lanes in use
            work = sum(self._mean(c) for c in pending)
            work += sum(max(0.0, self._mean(c) - so_far) for c, so_far in running)
            lanes = max(1, min(self.parallel, len(running) + len(pending)))
            longest_left = max((max(0.0, self._mean(c) - so_far) for c, so_far in running), default=0.0)
            text += f", ETA {hms(max(work / lanes, longest_left))}"
        return text
