"""Which pending runs may start now: `parallel`, the soft RAM budget, weights, per-class estimates.

Pure logic (no processes), so that it can be tested on its own.

What the scheduler knows of each resource class:

- its RAM estimate: `approx_ram_per_class`; when a run of the class ends, its measured peak RSS
  replaces the estimate if that is higher (`update_estimates`), so the runs that follow are admitted
  on what the class really uses;
- its expected duration: the mean duration of its runs that succeeded so far. A class none of whose
  runs has succeeded yet is assumed to take as long per MB of estimate as the measured class whose
  estimate is closest to its own (before any run has ended: seconds = estimate in GB; only the
  ratios matter then), i.e. bigger runs are assumed to run longer until measured.

Limits. Whatever starts keeps the running count within `parallel`, the sum of estimates within
the budget and the sum of weights within `max_weight`: the scheduler only chooses *which* pending
runs fill the room that is free. Within a class, runs are taken in priority order: repeat, then
plan order (repeat 0 of every combination before repeat 1, so pruning and OOM skips can act).
When nothing is running and the largest pending run does not fit the budget on its own, it starts
alone (otherwise the sweep would never end); this is reported.

Why look ahead. Under a RAM budget the makespan of a sweep is a packing problem: each run is a
rectangle (estimate x duration) to be laid into a strip `budget` high, at most `parallel` at a
time. Greedy largest-estimate-first (the former policy) fills each gap with the biggest run that
fits now. That can leave the budget under-used for long stretches (two 630 MB runs and one of
230 MB leave 276 MB of a 1536 MB budget idle, where two 130 MB runs would have used it), and it
spends the short runs early although they are what fills the last gaps, so medium runs end up
running at the end with the budget half empty. So, each time runs can start, the scheduler:

1. enumerates the sets of pending runs (counts per class) that fit the free room and to which no
   further pending run could be added (it does not leave room idle that a run could use, so a
   wrong prediction costs little);
2. for each set, simulates the rest of the sweep from the running runs' expected remaining times,
   with the list scheduler (first pending run that fits starts) in two orders: longest expected
   duration first, and largest estimate first (the former policy); the better of the two is the
   set's predicted makespan;
3. starts the set with the smallest predicted makespan; ties go to the set that uses more of the
   budget now, then to the list scheduler's own choice.

This is a "rollout" of the list scheduler: with exact durations the sweep is never predicted to
end later than either list order would make it end, and in practice it packs the large, long
runs early and keeps the short runs for the end.

Waiting for a run about to end. A run whose expected end is within `h` of now, where `h` is half
the shortest expected duration among the pending classes (a run of a class not yet measured is
never waited for), lets the scheduler also consider sets that leave room free (starting fewer
runs, or none): when two runs end a moment apart, starting a small run in the room the first one
frees can block the better set that both together would have made room for. The scheduler waits
only when the simulation predicts an earlier end, and a run stops being waited for once it is
more than `h` past its expected end, so the room is held at most about 2h per run; the
orchestrator asks again by then (`Admission.recheck_s`) even if no run has ended.

Cost. Every decision simulates at most LOOKAHEAD_WORK run events in all (a few milliseconds to a
few tenths of a second in Python); with many classes, a large `parallel` or thousands of pending
runs the candidate sets are cut to the fullest ones, and at worst admission is the plain list
scheduler (longest expected duration first).
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field
from typing import Iterable, Protocol

from app.orchestrator.settings import LauncherSettings

LOOKAHEAD_WORK = 40_000  # simulated run events per decision, at most (candidate sets x orders x runs)
MAX_SETS = 5_000  # candidate sets enumerated per decision, at most
WAIT_FRACTION = 0.5  # h = this x the shortest expected duration among the pending classes
MIN_RECHECK_S = 0.05
EPS_MB = 1e-6
EPS_W = 1e-9


class Schedulable(Protocol):
    resource_class: str
    repeat: int
    run_index: int
    attempt: int
    # a running run may also have `start_mono` (time.monotonic() at its start); without it, it
    # counts as just started


@dataclass
class Admission:
    start: list = field(default_factory=list)
    over_budget_alone: list = field(default_factory=list)  # started alone although above budget
    predicted_s: float | None = None  # seconds until the sweep is predicted to end (None: no lookahead)
    recheck_s: float | None = None  # room is held for a run about to end: ask again within this many seconds


class Scheduler:
    def __init__(self, settings: LauncherSettings) -> None:
        self.settings = settings
        self.estimates: dict[str, float] = {c: settings.estimate_mb(c) for c in settings.approx_ram_per_class}
        self.durations: dict[str, list[float]] = {}  # class -> durations (s) of its runs that succeeded

    # ---- what is known of each class -------------------------------------------------------------

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

    def observe_duration(self, resource_class: str, seconds: float | None) -> None:
        """A run of this class succeeded after this many seconds (a failed run says little: not given)."""
        if seconds is not None and seconds > 0:
            self.durations.setdefault(resource_class, []).append(float(seconds))

    def measured(self, resource_class: str) -> bool:
        return bool(self.durations.get(resource_class))

    def expected_duration(self, resource_class: str) -> float:
        """Mean of the class's measured runs; else scaled from the measured class nearest in estimate."""
        own = self.durations.get(resource_class)
        if own:
            return sum(own) / len(own)
        est = self.estimate(resource_class)
        known = [c for c, ds in self.durations.items() if ds and c in self.estimates]
        if not known:
            return est / 1024.0
        near = min(known, key=lambda c: (abs(math.log(self.estimate(c) / est)), c))
        return self.expected_duration(near) * est / self.estimate(near)

    def priority(self, item: Schedulable) -> tuple:
        """Order of the runs within a class: repeat, then plan order (the estimate first: see admit)."""
        return (-self.estimate(item.resource_class), item.repeat, item.run_index, item.attempt)

    def used(self, running: Iterable[Schedulable]) -> tuple[int, float, float]:
        n, ram, weight = 0, 0.0, 0.0
        for r in running:
            n += 1
            ram += self.estimate(r.resource_class)
            weight += self.settings.weight(r.resource_class)
        return n, ram, weight

    # ---- admission -------------------------------------------------------------------------------

    def admit(self, pending: Iterable[Schedulable], running: Iterable[Schedulable], now: float | None = None) -> Admission:
        s = self.settings
        pending, running = list(pending), list(running)
        out = Admission()
        if not pending or len(running) >= s.parallel:
            return out
        now = time.monotonic() if now is None else now
        queues: dict[str, list] = {}
        for item in sorted(pending, key=self.priority):
            queues.setdefault(item.resource_class, []).append(item)
        counts = {c: len(q) for c, q in queues.items()}
        n, ram, weight = self.used(running)
        room = _Room(self, s.parallel - n, ram, weight)

        largest = min(pending, key=self.priority)
        if not running and not room.fits(largest.resource_class):
            # nothing runs and the largest run does not fit the budget on its own: it runs alone
            out.start.append(largest)
            out.over_budget_alone.append(largest)
            return out

        by_duration = sorted(counts, key=lambda c: (-self.expected_duration(c), -self.estimate(c), c))
        by_estimate = sorted(counts, key=lambda c: (-self.estimate(c), c))
        orders = [by_duration] + ([by_estimate] if by_estimate != by_duration else [])

        # running runs: expected remaining time (0 when past the class's mean); those within h of
        # their expected end may be waited for
        h = WAIT_FRACTION * min(self.expected_duration(c) for c in counts)
        state: list[tuple[float, str]] = []
        waits: list[float] = []  # seconds until each waited-for run leaves the window
        for r in running:
            c = r.resource_class
            left = self.expected_duration(c) - (now - getattr(r, "start_mono", now))
            state.append((max(0.0, left), c))
            if self.measured(c) and abs(left) <= h:
                waits.append(left + h)

        greedy = room.fill(by_duration, counts)
        sets = room.sets(by_duration, counts, maximal=not waits)
        chosen, out.predicted_s = self._choose(orders, counts, room, state, sets, greedy)
        if waits and room.fill(by_duration, counts, start=chosen) != chosen:
            out.recheck_s = max(MIN_RECHECK_S, min(waits))  # room held: ask again when the wait ends
        for c in by_duration:
            out.start.extend(queues[c][: chosen.get(c, 0)])
        return out

    def _choose(self, orders: list[list[str]], counts: dict[str, int], room: "_Room", state: list[tuple[float, str]],
                sets: list[dict[str, int]], greedy: dict[str, int]) -> tuple[dict[str, int], float | None]:
        if len(sets) <= 1:
            return (sets[0] if sets else greedy), None
        per_set = len(orders) * (sum(counts.values()) + len(state) + 1)
        limit = LOOKAHEAD_WORK // per_set
        if limit < 2:
            return greedy, None  # too many runs to simulate: the list scheduler alone
        if len(sets) > limit:  # keep the fullest sets, and the list scheduler's own choice
            sets = sorted(sets, key=lambda st: -room.mem_of(st))[: limit - 1]
            if greedy not in sets:
                sets.append(greedy)
        best, best_key, best_s = greedy, None, None
        for st in sets:
            predicted = min(self._simulate(order, counts, room, state, st) for order in orders)
            key = (round(predicted, 6), -round(room.mem_of(st), 6), st != greedy, _lex(orders[0], st))
            if best_key is None or key < best_key:
                best, best_key, best_s = st, key, predicted
        return best, best_s

    def _simulate(self, order: list[str], counts: dict[str, int], room: "_Room",
                  state: list[tuple[float, str]], first: dict[str, int]) -> float:
        """Seconds until the sweep ends if `first` starts now and the list scheduler (classes in
        `order`, as many of each as fit) takes every later decision."""
        s = self.settings
        parallel, budget, max_w = s.parallel, s.budget_mb(), s.max_weight
        classes = set(counts) | {c for _, c in state}
        est = {c: self.estimate(c) for c in classes}
        dur = {c: self.expected_duration(c) for c in classes}
        wgt = {c: s.weight(c) for c in classes}
        largest = sorted(counts, key=lambda c: (-est[c], c))
        left = dict(counts)
        events = list(state)
        n, ram, weight = room.n_running, room.ram, room.weight
        for c, k in first.items():
            left[c] -= k
            n += k
            ram += k * est[c]
            weight += k * wgt[c]
            events.extend([(dur[c], c)] * k)
        heapq.heapify(events)
        t = 0.0
        while events:
            t, c = heapq.heappop(events)
            n, ram, weight = n - 1, ram - est[c], weight - wgt[c]
            while events and events[0][0] <= t:
                _, c = heapq.heappop(events)
                n, ram, weight = n - 1, ram - est[c], weight - wgt[c]
            if n == 0:  # as admit: the largest run left runs alone if it does not fit on its own
                big = next((c for c in largest if left[c]), None)
                if big is not None and not (
                    (budget is None or est[big] <= budget + EPS_MB) and (max_w is None or wgt[big] <= max_w + EPS_W)
                ):
                    left[big] -= 1
                    n, ram, weight = 1, est[big], wgt[big]
                    heapq.heappush(events, (t + dur[big], big))
                    continue
            for c in order:
                while left[c] and n < parallel and (budget is None or ram + est[c] <= budget + EPS_MB) and (
                    max_w is None or weight + wgt[c] <= max_w + EPS_W
                ):
                    left[c] -= 1
                    n, ram, weight = n + 1, ram + est[c], weight + wgt[c]
                    heapq.heappush(events, (t + dur[c], c))
        return t


def _lex(order: list[str], st: dict[str, int]) -> tuple:
    """More runs of the earlier classes first: the last tie-break, so that decisions are deterministic."""
    return tuple(-st.get(c, 0) for c in order)


class _Room:
    """The room free now (slots, budget, weight), given what runs."""

    def __init__(self, sched: Scheduler, slots: int, ram: float, weight: float) -> None:
        s = sched.settings
        self.sched = sched
        self.slots = slots
        self.n_running = s.parallel - slots
        self.ram = ram
        self.weight = weight
        self.budget = s.budget_mb()
        self.max_weight = s.max_weight

    def mem_of(self, st: dict[str, int]) -> float:
        return sum(k * self.sched.estimate(c) for c, k in st.items())

    def fits(self, c: str, slots: int | None = None, ram: float | None = None, weight: float | None = None) -> bool:
        slots = self.slots if slots is None else slots
        ram = self.ram if ram is None else ram
        weight = self.weight if weight is None else weight
        return slots >= 1 and (self.budget is None or ram + self.sched.estimate(c) <= self.budget + EPS_MB) and (
            self.max_weight is None or weight + self.sched.settings.weight(c) <= self.max_weight + EPS_W
        )

    def fill(self, order: list[str], counts: dict[str, int], start: dict[str, int] | None = None) -> dict[str, int]:
        """The list scheduler's choice (classes in order, as many of each as fit), from `start` on."""
        st = dict(start or {})
        slots = self.slots - sum(st.values())
        ram = self.ram + self.mem_of(st)
        weight = self.weight + sum(k * self.sched.settings.weight(c) for c, k in st.items())
        for c in order:
            while st.get(c, 0) < counts[c] and self.fits(c, slots, ram, weight):
                st[c] = st.get(c, 0) + 1
                slots -= 1
                ram += self.sched.estimate(c)
                weight += self.sched.settings.weight(c)
        return st

    def sets(self, order: list[str], counts: dict[str, int], maximal: bool = True) -> list[dict[str, int]]:
        """The sets (counts per class) that fit; with `maximal`, only those no pending run could join."""
        out: list[dict[str, int]] = []
        est = {c: self.sched.estimate(c) for c in order}
        wgt = {c: self.sched.settings.weight(c) for c in order}
        visited = [0]

        def rec(i: int, st: dict[str, int], slots: int, ram: float, weight: float) -> None:
            visited[0] += 1
            if len(out) >= MAX_SETS or visited[0] > 10 * MAX_SETS:
                return
            if i == len(order):
                if not maximal or not any(st.get(c, 0) < counts[c] and self.fits(c, slots, ram, weight) for c in order):
                    out.append({c: k for c, k in st.items() if k})
                return
            c = order[i]
            k = 0
            while True:
                st[c] = k
                rec(i + 1, st, slots - k, ram + k * est[c], weight + k * wgt[c])
                if k >= counts[c] or not self.fits(c, slots - k, ram + k * est[c], weight + k * wgt[c]):
                    break
                k += 1
            del st[c]

        rec(0, {}, self.slots, self.ram, self.weight)
        return out
