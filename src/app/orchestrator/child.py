"""What runs in a run's own process, and the fork server that creates those processes.

A run's process gets, from the orchestrator, two pickles:
- the sweep's *common* payload (written once): the task function, Hydra's context, Hydra's
  singletons (config store, resolvers...), modules to preload;
- the run's payload: its composed config (job number and id set) and where to write its result.
It calls Hydra's own `run_job` (output folder, `.hydra/`, job logging, callbacks, chdir: all as with
any launcher) and writes the `JobReturn` back with cloudpickle.  Its exit status: 0 success,
1 the task failed (the traceback is in the run's log), 99 MemoryError, else the task's own
`sys.exit` status.

Two ways to get a fresh process (`hydra.launcher.start_method`):
- spawn: a new interpreter per run (`python -c <bootstrap> spawn ...`): pays the imports each time;
- forkserver: one server process loads the common payload once (Hydra, the task's module and
  `preload` imported), then forks a child per run on request.  The child is a fresh process all the
  same: its memory is returned when it exits and its peak RSS is measured by wait4 in the server.

Whatever the way, the run's process leads its own session (the orchestrator stops the whole tree
with one killpg) and dies with its parent (PR_SET_PDEATHSIG), so killing the orchestrator, even with
SIGKILL, leaves no run behind.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import pickle
import selectors
import signal
import sys
import traceback
from typing import Any

EXIT_TASK_FAILED = 1
EXIT_MEMORY_ERROR = 99


# ---- inside a run's process ---------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except Exception:  # pragma: no cover - best effort
            pass
    if parent_pid and os.getppid() != parent_pid:
        os._exit(137)


def load_common(path: str) -> dict[str, Any]:
    with open(path, "rb") as f:
        return pickle.load(f)


def install_common(common: dict[str, Any]) -> None:
    from hydra.core.singleton import Singleton
    from hydra.core.utils import setup_globals

    setup_globals()
    Singleton.set_state(common["singleton_state"])


def reseed_rngs() -> None:
    """A forked child inherits its server's random state: draw fresh seeds as a new process would."""
    np = sys.modules.get("numpy")
    if np is not None:
        try:
            np.random.seed()
        except Exception:
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            torch.seed()
        except Exception:
            pass


def _save_return(ret: Any, path: str) -> None:
    import cloudpickle

    from app.orchestrator.errors import RunFailed

    try:
        data = cloudpickle.dumps(ret)
    except Exception as err:  # an unpicklable return value or exception: keep its text
        value = ret._return_value
        if isinstance(value, BaseException):
            ret._return_value = RunFailed(f"{type(value).__name__}: {value}")
        else:
            print(f"superior: the task's return value cannot be pickled ({err}); returning its repr", file=sys.stderr)
            ret._return_value = repr(value)
        data = cloudpickle.dumps(ret)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def run_one(common: dict[str, Any], payload_path: str) -> int:
    from hydra.core.hydra_config import HydraConfig
    from hydra.core.utils import JobStatus, run_job

    modules_before = set(sys.modules)
    with open(payload_path, "rb") as f:
        payload = pickle.load(f)
    config = payload["config"]
    HydraConfig.instance().set_config(config)
    ret = run_job(
        hydra_context=common["hydra_context"],
        task_function=common["task_function"],
        config=config,
        job_dir_key="hydra.sweep.dir",
        job_subdir_key="hydra.sweep.subdir",
    )
    code = 0
    if ret.status == JobStatus.FAILED:
        exc = ret._return_value
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        code = EXIT_MEMORY_ERROR if isinstance(exc, MemoryError) else EXIT_TASK_FAILED
    _save_return(ret, payload["return_path"])
    if payload.get("modules_path"):  # what this run imported: the fork server may preload it
        new = [m for m in list(sys.modules) if m not in modules_before]
        with open(payload["modules_path"], "w") as f:
            json.dump(new, f)
    return code


def exit_code_of(exc: BaseException) -> int:
    if isinstance(exc, SystemExit):
        if exc.code is None:
            return 0
        if isinstance(exc.code, int):
            return exc.code
        print(exc.code, file=sys.stderr)
        return 1
    if isinstance(exc, KeyboardInterrupt):
        return 130
    traceback.print_exc()
    return EXIT_MEMORY_ERROR if isinstance(exc, MemoryError) else 1


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


def spawn_main(common_path: str, payload_path: str, parent_pid: int) -> int:
    die_with_parent(parent_pid)
    try:
        sys.stdout.reconfigure(line_buffering=True)  # the log shows progress even if the run is killed
        common = load_common(common_path)
        install_common(common)
        code = run_one(common, payload_path)
    except BaseException as exc:  # noqa: BLE001 - the exit status must say what happened
        code = exit_code_of(exc)
    # exit as a finished interpreter would (atexit handlers, logging), but without waiting for
    # threads the task left running: the run is over when its task function returned
    try:
        import atexit

        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        pass
    _flush()
    os._exit(code)


# ---- the fork server ----------------------------------------------------------------------------


class ForkServer:
    """Reads `{"op": "run", ...}` lines on stdin, forks a run per line, reports on its event pipe:
    `{"ev": "started", "key", "pid"}` and `{"ev": "exit", "key", "pid", "status", "maxrss_kb"}`."""

    def __init__(self, common_path: str, parent_pid: int, extra_preload: str | None = None) -> None:
        self.parent_pid = parent_pid
        self.common_path = common_path
        self.extra_preload = extra_preload
        self.children: dict[int, Any] = {}
        self.event_fd = os.dup(1)
        os.dup2(2, 1)  # stray prints go to the server's log, not into the event stream

    def emit(self, event: dict[str, Any]) -> None:
        data = (json.dumps(event) + "\n").encode()
        while data:
            n = os.write(self.event_fd, data)
            data = data[n:]

    def serve(self) -> int:
        die_with_parent(self.parent_pid)
        self.server_pid = os.getpid()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
        self.common = load_common(self.common_path)
        install_common(self.common)
        failed = []
        names = list(self.common.get("preload") or [])
        if self.extra_preload:
            with open(self.extra_preload) as f:
                names += [n for n in json.load(f) if n not in names]
        for name in names:
            try:
                importlib.import_module(name)
            except BaseException as err:  # a bad preload must not stop the sweep: runs import it anyway
                if self.extra_preload is None:  # learned modules may be private or vanish: no noise
                    failed.append(f"{name}: {type(err).__name__}: {err}")
        gc.collect()
        gc.freeze()  # children then do not copy the server's objects when the GC walks them
        self.sig_r, self.sig_w = os.pipe()
        os.set_blocking(self.sig_r, False)
        os.set_blocking(self.sig_w, False)
        signal.set_wakeup_fd(self.sig_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel = selectors.DefaultSelector()
        self.sel.register(0, selectors.EVENT_READ)
        self.sel.register(self.sig_r, selectors.EVENT_READ)
        self.emit({"ev": "ready", "pid": os.getpid(), "preload_failed": failed})
        buf = b""
        while True:
            for key, _ in self.sel.select(timeout=0.5):
                if key.fd == self.sig_r:
                    try:
                        while os.read(self.sig_r, 4096):
                            pass
                    except BlockingIOError:
                        pass
                    continue
                data = os.read(0, 65536)
                if not data:
                    return self.shutdown()
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    cmd = json.loads(line)
                    if cmd.get("op") == "run":
                        self.fork_run(cmd)
                    elif cmd.get("op") == "exit":
                        return self.shutdown()
            self.reap()
            if os.getppid() != self.parent_pid:
                return self.shutdown()

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, rusage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            key = self.children.pop(pid, None)
            self.emit({"ev": "exit", "key": key, "pid": pid, "status": status, "maxrss_kb": rusage.ru_maxrss})

    def shutdown(self) -> int:
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        return 0

    def fork_run(self, cmd: dict[str, Any]) -> None:
        _flush()
        pid = os.fork()
        if pid:
            self.children[pid] = cmd["key"]
            self.emit({"ev": "started", "key": cmd["key"], "pid": pid})
            return
        code = 1
        try:
            os.setsid()
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self.sel.close()
            log_fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null_fd = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null_fd, 0)
            os.dup2(log_fd, 1)
            os.dup2(log_fd, 2)
            for fd in (log_fd, null_fd, self.event_fd, self.sig_r, self.sig_w):
                os.close(fd)
            sys.stdout.reconfigure(line_buffering=True)
            die_with_parent(self.server_pid)
            os.chdir(cmd["cwd"])
            reseed_rngs()
            code = run_one(self.common, cmd["payload"])
        except BaseException as exc:  # noqa: BLE001
            code = exit_code_of(exc)
        finally:
            try:
                import logging

                logging.shutdown()
            except Exception:
                pass
            _flush()
            os._exit(code)


def forkserver_main(common_path: str, parent_pid: int, extra_preload: str | None = None) -> int:
    return ForkServer(common_path, parent_pid, extra_preload).serve()
