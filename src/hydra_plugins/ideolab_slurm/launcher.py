# `hydra/launcher=slurm` and `hydra/launcher=slurm_local`: hydra-submitit-launcher's launchers, with each
# run's memory, CPU and time request taken from its resource class (one job array per class), the
# superior launcher's repeats and seeds, plan.tsv, and resume.  The work is in `_sweep.py`; this module
# is what Hydra's plugin scanner imports at every start-up, so it imports neither submitit nor the app,
# and works (as far as telling the user what to install) when the `launchers` extra is missing.
# No `from __future__ import annotations` here (the plugin scanner then fails).
import logging
from abc import abstractmethod
from typing import Any, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.errors import CompactHydraException
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

log = logging.getLogger(__name__)

try:  # the `launchers` extra: hydra-submitit-launcher (which brings submitit)
    from hydra_plugins.hydra_submitit_launcher.submitit_launcher import BaseSubmititLauncher

    _MISSING: Optional[BaseException] = None
except ImportError as _err:  # pragma: no cover - exercised by tests/test_slurm.py in a subprocess
    from hydra.plugins.launcher import Launcher as BaseSubmititLauncher  # type: ignore[assignment]

    _MISSING = _err

EXTRA_HINT = "pip install -e .[launchers]"


class SlurmLauncherError(CompactHydraException):
    """Bad input for hydra/launcher=slurm|slurm_local: a short message, exit status 1, nothing submitted."""


class _IdeolabSubmitit(BaseSubmititLauncher):  # type: ignore[misc, valid-type]
    _EXECUTOR = "abstract"
    _CHOICE = "slurm"

    @abstractmethod
    def _kind(self) -> str:
        """Abstract, so that Hydra's plugin scanner lists the two launchers below, not this base."""

    def __init__(self, **params: Any) -> None:
        if _MISSING is None:
            super().__init__(**params)
        else:  # keep what setup() needs to explain the problem
            self.params = dict(params)
            self.config = None
            self.task_function = None
            self.hydra_context = None
        self._sweep: Any = None  # per-multirun state (_sweep.Sweep); never sent to the jobs

    def __getstate__(self) -> dict:
        # the launcher itself is what submitit pickles for each job: leave the sweep's bookkeeping home
        state = dict(self.__dict__)
        state["_sweep"] = None
        return state

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        missing = _MISSING
        if missing is None:
            try:
                import submitit  # noqa: F401
            except ImportError as err:
                missing = err
        if missing is not None:
            raise SlurmLauncherError(
                f"hydra/launcher={self._CHOICE} needs the `launchers` extra (hydra-submitit-launcher, submitit), "
                f"which is not installed ({missing}); install it with: {EXTRA_HINT}"
            )
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)
        from hydra_plugins.ideolab_slurm._sweep import Settings, check_before_start

        self.settings = Settings.from_params(self.params, executor=self._EXECUTOR, choice=self._CHOICE)
        check_before_start(self.settings, config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from hydra_plugins.ideolab_slurm._sweep import Sweep

        if self._sweep is None:  # kept across sweeper batches
            self._sweep = Sweep(self)
        return self._sweep.launch(job_overrides, initial_job_idx)


class IdeolabSlurmLauncher(_IdeolabSubmitit):
    _EXECUTOR = "slurm"
    _CHOICE = "slurm"

    def _kind(self) -> str:
        return self._CHOICE


class IdeolabLocalLauncher(_IdeolabSubmitit):
    _EXECUTOR = "local"
    _CHOICE = "slurm_local"

    def _kind(self) -> str:
        return self._CHOICE
