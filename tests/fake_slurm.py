"""A fake SLURM for tests/test_slurm.py: sbatch, srun, sacct, scancel on one machine.

    install(bin_dir, state_dir) writes the four commands into bin_dir (put it first on PATH).

sbatch runs each array task of the script in the background (own session), with the SLURM_* variables
submitit reads; srun runs its command with --output/--error, watches the RSS of its process tree and
SIGKILLs it above the job's --mem (state OUT_OF_MEMORY and slurmstepd's message, as a cgroup would);
above FAKE_SLURM_WARN_MB it only logs slurmstepd's oom-kill warning and marks the step OUT_OF_MEMORY
(real SLURM does so when any process of the step was oom-killed, even if the job then completes).
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("FAKE_SLURM_DIR", "."))
STATE = ROOT / "state"
COMMANDS = ("sbatch", "srun", "sacct", "scancel")


def install(bin_dir: Path, state_dir: Path) -> dict:
    """Write the fake commands; returns the environment variables to run under them."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    state_dir.mkdir(parents=True, exist_ok=True)
    for cmd in COMMANDS:
        path = bin_dir / cmd
        path.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{Path(__file__).resolve()}" {cmd} "$@"\n')
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", "FAKE_SLURM_DIR": str(state_dir)}


def _set_state(job_id: str, state: str) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    tmp = STATE / f".{job_id}.{os.getpid()}.tmp"
    tmp.write_text(state)
    os.replace(tmp, STATE / job_id)


def _get_state(job_id: str) -> str:
    try:
        return (STATE / job_id).read_text().strip()
    except OSError:
        return ""


def _mem_mb(text: str) -> float:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)([KMGT]?)B?", text.strip().upper())
    if not m:
        raise SystemExit(f"fake sbatch: cannot read --mem={text}")
    factor = {"": 1, "K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[m.group(2)]
    return float(m.group(1)) * factor


def sbatch(argv: list) -> int:
    script = Path(argv[-1])
    text = script.read_text()
    flags = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, flags=re.M))
    counter = ROOT / "counter"
    n = int(counter.read_text()) + 1 if counter.exists() else 1000
    counter.write_text(str(n))
    array = flags.get("array")
    tasks = [None]
    if array:
        lo, hi = re.match(r"(\d+)-(\d+)", array).groups()
        tasks = list(range(int(lo), int(hi) + 1))
    (ROOT / "submitted").mkdir(parents=True, exist_ok=True)
    (ROOT / "submitted" / f"{n}.sbatch").write_text(text)
    for task in tasks:
        job_id = f"{n}_{task}" if task is not None else str(n)
        _set_state(job_id, "PENDING")
        env = dict(os.environ)
        env.update(SLURM_JOB_ID=str(n if task is None else n * 100 + task), SLURM_NTASKS="1",
                   SLURM_JOB_NUM_NODES="1", SLURM_NODEID="0", SLURM_PROCID="0", SLURM_LOCALID="0",
                   SLURM_JOB_NODELIST="fakenode", FAKE_SLURM_JOB=job_id,
                   FAKE_SLURM_MEM_MB=str(_mem_mb(flags.get("mem", "0")) if flags.get("mem") else 0))
        if task is not None:
            env.update(SLURM_ARRAY_JOB_ID=str(n), SLURM_ARRAY_TASK_ID=str(task))
        out = flags.get("output", str(ROOT / "slurm-%j.out"))
        out = out.replace("%A", str(n)).replace("%a", str(task)).replace("%j", job_id).replace("%t", "0")
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        log = open(out, "a")
        proc = subprocess.Popen([sys.executable, __file__, "_run", job_id, str(script)], env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        (ROOT / "pids").mkdir(parents=True, exist_ok=True)
        (ROOT / "pids" / job_id).write_text(str(proc.pid))
    print(f"Submitted batch job {n}")
    return 0


def _run(job_id: str, script: str) -> int:
    _set_state(job_id, "RUNNING")
    code = subprocess.call(["bash", script])
    if _get_state(job_id) in ("OUT_OF_MEMORY", "CANCELLED"):
        return code
    _set_state(job_id, "COMPLETED" if code == 0 else "FAILED")
    return code


def _tree_rss_mb(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 1024 / 1024


def srun(argv: list) -> int:
    job_id = os.environ["FAKE_SLURM_JOB"]
    out = err = None
    cmd = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--output", "--error"):
            value = argv[i + 1]
            task = os.environ.get("SLURM_ARRAY_TASK_ID", "")
            value = value.replace("%A", os.environ.get("SLURM_ARRAY_JOB_ID", "")).replace("%a", task)
            value = value.replace("%j", job_id).replace("%t", "0")
            out, err = (value, err) if a == "--output" else (out, value)
            i += 2
        elif a.startswith("--"):
            i += 1
        else:
            cmd = argv[i:]
            break
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fout = open(out, "a")
    ferr = open(err, "a") if err else fout
    proc = subprocess.Popen(cmd, stdout=fout, stderr=ferr)
    limit = float(os.environ.get("FAKE_SLURM_MEM_MB") or 0)
    warn = float(os.environ.get("FAKE_SLURM_WARN_MB") or 0)
    warned = killed = False
    while proc.poll() is None:
        rss = _tree_rss_mb(proc.pid)
        if limit and rss > limit:
            killed = True
            proc.kill()
            proc.wait()
            break
        if warn and rss > warn:
            warned = True
        time.sleep(0.02)
    step = f"StepId={job_id}.0"
    if killed or warned:
        ferr.write(f"slurmstepd: error: Detected 1 oom-kill event(s) in {step}. Some of your processes may have "
                   "been killed by the cgroup out-of-memory handler.\n")
        ferr.flush()
        _set_state(job_id, "OUT_OF_MEMORY")
    if killed:
        return 137
    return proc.returncode


def sacct(argv: list) -> int:
    ids = [argv[i + 1] for i, a in enumerate(argv) if a == "-j"]
    print("JobID|State|NodeList")
    for path in sorted(STATE.iterdir()) if STATE.is_dir() else []:
        if path.name.startswith("."):
            continue
        if path.name.split("_")[0] in ids:
            print(f"{path.name}|{path.read_text().strip()}|fakenode")
    return 0


def scancel(argv: list) -> int:
    for job_id in [a for a in argv if not a.startswith("-")]:
        pid_file = ROOT / "pids" / job_id
        if pid_file.exists():
            try:
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
            except OSError:
                pass
            _set_state(job_id, "CANCELLED")
    return 0


def main() -> int:
    cmd, argv = sys.argv[1], sys.argv[2:]
    if cmd == "_run":
        return _run(*argv)
    return {"sbatch": sbatch, "srun": srun, "sacct": sacct, "scancel": scancel}[cmd](argv)


if __name__ == "__main__":
    sys.exit(main())
