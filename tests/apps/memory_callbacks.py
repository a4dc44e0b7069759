"""A Hydra callback for the launcher tests: leaves a mark when on_multirun_end runs."""

from pathlib import Path

from hydra.experimental.callback import Callback


class MarkMultirunEnd(Callback):
    def on_multirun_end(self, config, **kwargs) -> None:
        path = Path(str(config.hydra.sweep.dir)) / "multirun_end.txt"
        with open(path, "a") as f:
            f.write("on_multirun_end\n")
