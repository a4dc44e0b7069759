"""Progress on long work: an elapsed-time bar for steps that report nothing themselves."""

import threading
from contextlib import contextmanager

from tqdm import tqdm


@contextmanager
def elapsed_bar(desc: str, enabled: bool = True, delay: float = 3.0):
    """Shows `desc: 0:12 elapsed` on stderr once the step has taken `delay` seconds (never before)."""
    if not enabled:
        yield
        return
    stop = threading.Event()
    bar = tqdm(total=None, desc=desc, delay=delay, bar_format="{desc}: {elapsed} elapsed", leave=False)

    def tick() -> None:
        while not stop.wait(0.5):
            bar.refresh()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
        bar.close()


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process, so a step's own peak can be read."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """This process's peak RSS in MB since start or since the last reset_peak_rss()."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
