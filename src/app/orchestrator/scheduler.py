"""Which pending runs may start now: `parallel`, the soft RAM budget, weights, per-class estimates.

Pure logic (no processes), so that it can be tested on its own.

- A run's RAM estimate is its resource class's `approx_ram_per_class`; when a run of a class ends,
  its measured peak RSS replaces the class's estimate if that is higher (`update_estimates`), so the
  runs that follow are admitted on what the class really uses.
- Admission is greedy over the queue in priority order: heaviest class first (large, long runs
  start early, small ones pack around them), then repeat, then plan order (repeat 0 of every
  combination before repeat 1, so pruning and OOM skips can act). A run that does not fit is passed
  over and lighter runs behind it fill the gap; nothing ever waits behind a run that cannot start.
- When nothing is running, the first run in the queue starts even if its estimate alone exceeds
  the budget (otherwise the sweep would never end); this is reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

from app.orchestrator.settings import LauncherSettings


class Schedulable(Protocol):
    resource_class: str
    repeat: int
    run_index: int
    attempt: int


@dataclass
class Admission:
    start: list = field(default_factory=list)
    over_budget_alone: list = field(default_factory=list)  # started alone although above budget


class Scheduler:
    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        self.estimates: dict[str, float] = {c: settings.estimate_mb(c) for c in settings.approx_ram_per_class}

    def estimate(self, resource_class: str) -> float:
        return self.estimates[resource_class]

    def observe_peak(self, resource_class: str, peak_mb: float | None) -> bool:
        """A run of this class ended with this peak RSS; True when the estimate was raised."""
        if not self.settings.update_estimates or peak_mb is None or resource_class not in self.estimates:
            return False
        if peak_mb > self.estimates[resource_class]:
            self.estimates[resource_class] = float(peak_mb)
            return True
        return False

    def priority(self, item: Schedulable) -> tuple:
        return (-self.estimate(item.resource_class), item.repeat, item.run_index, item.attempt)

    def used(self, running: Iterable[Schedulable]) -> tuple[int, float, float]:
        n, ram, weight = 0, 0.0, 0.0
        for r in running:
            n += 1
            ram += self.estimate(r.resource_class)
            weight += self.settings.weight(r.resource_class)
        return n, ram, weight

    def admit(self, pending: Iterable[Schedulable], running: Iterable[Schedulable]) -> Admission:
        s = self.settings
        budget = s.budget_mb()
        n, ram, weight = self.used(running)
        out = Admission()
        for item in sorted(pending, key=self.priority):
            if n >= s.parallel:
                break
            need = self.estimate(item.resource_class)
            w = s.weight(item.resource_class)
            fits = (budget is None or ram + need <= budget + 1e-6) and (
                s.max_weight is None or weight + w <= s.max_weight + 1e-9
            )
            if not fits and n == 0:
                fits = True
                out.over_budget_alone.append(item)
            if fits:
                out.start.append(item)
                n += 1
                ram += need
                weight += w
        return out
