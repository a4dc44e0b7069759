"""Starting runs as fresh processes, learning when they end, measuring and stopping them.

Two pools share one interface (`start`, `wait`, `close`), chosen by `hydra.launcher.start_method`:
`ForkServerPool` (a fork server created once per sweep; see child.py) and `SpawnPool` (one new
interpreter per run, its end seen through a pidfd).  Both report a run's end with the peak RSS
that the kernel kept for it (`wait4`'s ru_maxrss: exact, no sampling).

`tree_rss_mb` and `signal_tree` serve the hard limit: the limit is checked by polling the RSS of
the run's whole process tree; the run leads its own session, so one killpg reaches the tree.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from app.orchestrator.errors import SuperiorError


@dataclass
class ProcEvent:
    kind: str  # "started" | "exit"
    key: int  # the run's job number
    pid: int
    exit_code: int | None = None  # negative: killed by that signal
    maxrss_mb: float | None = None


def _bootstrap_cmd(*args: str) -> list[str]:
    from hydra_plugins.superior_launcher._worker import BOOTSTRAP

    return [sys.executable, "-c", BOOTSTRAP, *args]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    paths = [p if p else os.getcwd() for p in sys.path]
    env["SUPERIOR_SYS_PATH"] = json.dumps(paths)
    return env


def _maxrss_mb(ru_maxrss: int) -> float:
    # Linux reports KB, macOS bytes
    return ru_maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else ru_maxrss / 1024.0


class _Server:
    """One fork server process and its event stream."""

    def __init__(self, common_path: Path, server_log: Path, extra_preload: Path | None) -> None:
        self.log_path = server_log
        self._log = open(server_log, "ab")
        args = ["forkserver", str(common_path), str(os.getpid())]
        if extra_preload is not None:
            args.append(str(extra_preload))
        self.proc = subprocess.Popen(
            _bootstrap_cmd(*args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=_child_env(),
            start_new_session=True,  # Ctrl-C in the terminal reaches the orchestrator only
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.out = self.proc.stdout.fileno()
        os.set_blocking(self.out, False)
        self.buf = b""
        self.ready = False
        self.preload_failed: list[str] = []
        self.children: set[int] = set()  # job numbers of its running children

    def read(self) -> list[dict]:
        try:
            while True:
                data = os.read(self.out, 65536)
                if not data:
                    break
                self.buf += data
        except BlockingIOError:
            pass
        events = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                events.append(json.loads(line))
        return events

    def send(self, cmd: dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(cmd) + "\n").encode())
        self.proc.stdin.flush()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        try:
            if self.proc.stdin is not None and self.proc.poll() is None:
                self.proc.stdin.write(b'{"op": "exit"}\n')
                self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


class ForkServerPool:
    """Runs forked from a fork server; `upgrade` swaps in a server with more modules preloaded.

    The new server boots beside the old one, which keeps serving until the new one is ready and
    then only waits for its own children: no run waits for the imports.
    """

    def __init__(self, common_path: Path, server_log: Path, ready_timeout_s: float = 300.0) -> None:
        self.common_path = common_path
        self.server_log = server_log
        self.ready_timeout_s = ready_timeout_s
        self.sel = selectors.DefaultSelector()
        self.servers: list[_Server] = []
        self.current: _Server | None = None
        self.preload_failed: list[str] = []
        self._events: list[ProcEvent] = []
        self.upgrade_started: float | None = None
        self._add_server(None)

    def _add_server(self, extra_preload: Path | None) -> _Server:
        server = _Server(self.common_path, self.server_log, extra_preload)
        self.servers.append(server)
        self.sel.register(server.out, selectors.EVENT_READ, server)
        return server

    def _fail_start(self, server: _Server) -> None:
        self.close()
        tail = server.log_path.read_text(errors="replace").strip().splitlines()[-15:]
        raise SuperiorError("the fork server did not start:\n" + "\n".join(tail))

    @property
    def ready(self) -> bool:
        return self.current is not None

    def wait_ready(self) -> None:
        """The server imports and unpickles while the orchestrator plans; block until it is done."""
        deadline = time.monotonic() + self.ready_timeout_s
        while self.current is None:
            first = self.servers[0]
            if time.monotonic() > deadline or not first.alive():
                self._fail_start(first)
            self._poll(0.2)

    def upgrade(self, modules: list[str], preload_file: Path) -> None:
        """Boot a server that also imports these modules; it takes over once ready."""
        preload_file.write_text(json.dumps(modules))
        self._add_server(preload_file)
        self.upgrade_started = time.monotonic()

    @property
    def upgrading(self) -> bool:
        """A new server is booting (not ready, not dead)."""
        return any(not s.ready and s.alive() for s in self.servers if s is not self.current) and self.current is not None

    def register_extra(self, fd: int) -> None:
        self.sel.register(fd, selectors.EVENT_READ, "extra")

    def start(self, key: int, payload: Path, log: Path, cwd: str) -> None:
        if self.current is None:
            self.wait_ready()
        assert self.current is not None
        cmd = {"op": "run", "key": key, "payload": str(payload), "log": str(log), "cwd": cwd}
        try:
            self.current.send(cmd)
        except BrokenPipeError as err:
            raise SuperiorError(f"the fork server died; see {self.server_log}") from err
        self.current.children.add(key)

    def _poll(self, timeout: float) -> None:
        for sk, _ in self.sel.select(timeout=max(0.0, timeout)):
            if sk.data == "extra":
                continue
        for server in list(self.servers):
            for e in server.read():
                ev = e.get("ev")
                if ev == "ready":
                    server.ready = True
                    self.preload_failed = e.get("preload_failed") or []
                    old, self.current = self.current, server
                    if old is not None:
                        self._retire(old)
                elif ev == "started":
                    self._events.append(ProcEvent("started", int(e["key"]), int(e["pid"])))
                elif ev == "exit":
                    server.children.discard(int(e["key"]))
                    self._events.append(ProcEvent(
                        "exit", int(e["key"]), int(e["pid"]),
                        exit_code=os.waitstatus_to_exitcode(int(e["status"])),
                        maxrss_mb=_maxrss_mb(int(e["maxrss_kb"])),
                    ))
                    if server is not self.current and not server.children:
                        self._retire(server)

    def _retire(self, server: _Server) -> None:
        if server.children or server not in self.servers:
            return  # it still reports on its running children
        self.sel.unregister(server.out)
        self.servers.remove(server)
        server.close()

    def wait(self, timeout: float) -> list[ProcEvent]:
        self._poll(0 if self._events else timeout)
        out, self._events = self._events, []
        return out

    def alive(self) -> bool:
        return self.current is None or self.current.alive()

    def close(self) -> None:
        for server in self.servers:
            try:
                self.sel.unregister(server.out)
            except (KeyError, ValueError):
                pass
            server.close()
        self.servers.clear()
        try:
            self.sel.close()
        except Exception:
            pass


class SpawnPool:
    def __init__(self, common_path: Path) -> None:
        self.common_path = common_path
        self.sel = selectors.DefaultSelector()
        self.procs: dict[int, tuple[subprocess.Popen, int]] = {}  # key -> (Popen, pidfd)
        self.env = _child_env()
        self.preload_failed: list[str] = []
        self._started: list[ProcEvent] = []

    upgrading = False

    def wait_ready(self) -> None:
        pass

    def register_extra(self, fd: int) -> None:
        self.sel.register(fd, selectors.EVENT_READ, "extra")

    def start(self, key: int, payload: Path, log: Path, cwd: str) -> ProcEvent:
        with open(log, "ab") as logf:
            proc = subprocess.Popen(
                _bootstrap_cmd("spawn", str(self.common_path), str(payload), str(os.getpid())),
                stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                cwd=cwd, env=self.env, start_new_session=True,
            )
        pidfd = os.pidfd_open(proc.pid)
        self.sel.register(pidfd, selectors.EVENT_READ, key)
        self.procs[key] = (proc, pidfd)
        self._started.append(ProcEvent("started", key, proc.pid))
        return self._started[-1]

    def wait(self, timeout: float) -> list[ProcEvent]:
        out, self._started = self._started, []
        if out:
            timeout = 0
        for sk, _ in self.sel.select(timeout=max(0.0, timeout)):
            if sk.data == "extra":
                continue
            key = sk.data
            proc, pidfd = self.procs.pop(key)
            self.sel.unregister(pidfd)
            os.close(pidfd)
            _, status, rusage = os.wait4(proc.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            proc.returncode = code  # reaped here: keep Popen from waiting again
            out.append(ProcEvent("exit", key, proc.pid, exit_code=code, maxrss_mb=_maxrss_mb(rusage.ru_maxrss)))
        return out

    def alive(self) -> bool:
        return True

    def close(self) -> None:
        for key, (proc, pidfd) in list(self.procs.items()):
            signal_tree(proc.pid, signal.SIGKILL)
            try:
                os.wait4(proc.pid, 0)
            except ChildProcessError:
                pass
            proc.returncode = -9
            os.close(pidfd)
        self.procs.clear()
        self.sel.close()


# ---- measuring and stopping a run's process tree -----------------------------------------------


def _tree(pid: int) -> list:
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_rss_mb(pid: int) -> float | None:
    import psutil

    total = 0
    procs = _tree(pid)
    if not procs:
        return None
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / (1024.0 * 1024.0)


def signal_tree(pid: int, sig: int) -> None:
    """Signal the run's process group, and any descendant that left it."""
    import psutil

    procs = _tree(pid)
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)  # between fork and setsid the group does not exist yet
        except ProcessLookupError:
            pass
    for p in procs[1:]:
        try:
            p.send_signal(sig)
        except psutil.Error:
            pass
