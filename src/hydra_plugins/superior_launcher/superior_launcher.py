# The thin Hydra side of the `superior` launcher; the orchestrator itself is `app.orchestrator`.
# Imported by Hydra's plugin scanner at every start-up: import nothing heavy at module level, and
# no `from __future__ import annotations` (see ../__init__.py).
import logging
from typing import Any, Optional, Sequence

from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger(__name__)


class SuperiorLauncher(Launcher):
    def __init__(self, **params: Any) -> None:
        self.params = {k: (OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v)
                       for k, v in params.items()}
        self.config: Optional[DictConfig] = None
        self.task_function: Optional[TaskFunction] = None
        self.hydra_context: Optional[HydraContext] = None
        self.settings: Any = None
        self._orchestrator: Any = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        # Settings are checked here, before the sweeper creates the sweep folder: bad input
        # (parallel < 1, a negative budget, resume on a folder holding no sweep...) ends with a short
        # message and nothing started or written.
        from app.orchestrator.settings import LauncherSettings

        self.config = config
        self.task_function = task_function
        self.hydra_context = hydra_context
        self.settings = LauncherSettings.from_params(self.params)
        self.settings.validate()
        from app.orchestrator.resume import check_resumable

        check_resumable(self.settings, config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from app.orchestrator.orchestrate import Orchestrator

        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        if self._orchestrator is None:  # kept across batches (hydra.sweeper.max_batch_size)
            self._orchestrator = Orchestrator(
                settings=self.settings,
                config=self.config,
                hydra_context=self.hydra_context,
                task_function=self.task_function,
            )
        return self._orchestrator.launch(job_overrides, initial_job_idx)
