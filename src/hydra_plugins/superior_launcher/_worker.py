# Entry point of the processes the `superior` launcher starts (never imported by Hydra's plugin
# scanner: the leading underscore).  `python -m hydra_plugins.superior_launcher._worker MODE ...`:
#   spawn <common.pkl> <run.pkl> <parent pid>   one run in this fresh interpreter
#   forkserver <common.pkl> <parent pid> [<modules.json>]
#                                               a fork server: one forked child per run request
# The orchestrator starts it through BOOTSTRAP (below), which first puts the orchestrator's
# sys.path in place, so that whatever the task function was pickled against imports here too.
import sys

BOOTSTRAP = (
    "import json, os, sys; "
    "sys.path[:0] = [p for p in json.loads(os.environ.pop('SUPERIOR_SYS_PATH', '[]')) if p not in sys.path]; "
    "from hydra_plugins.superior_launcher._worker import main; sys.exit(main(sys.argv[1:]))"
)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    mode = argv[0] if argv else ""
    if mode == "spawn" and len(argv) == 4:
        from app.orchestrator.child import spawn_main

        return spawn_main(argv[1], argv[2], int(argv[3]))
    if mode == "forkserver" and len(argv) in (3, 4):
        from app.orchestrator.child import forkserver_main

        return forkserver_main(argv[1], int(argv[2]), argv[3] if len(argv) == 4 else None)
    print("usage: _worker spawn COMMON RUN PARENT_PID | forkserver COMMON PARENT_PID [PRELOAD.json]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
