"""Errors the orchestrator shows to users.

Both derive from Hydra's `CompactHydraException`: Hydra then prints the message alone (no traceback,
unless HYDRA_FULL_ERROR=1) and exits with status 1.
"""

from hydra.errors import CompactHydraException


class SuperiorError(CompactHydraException):
    """Bad launcher input (settings, grid, sweep folder): nothing was started."""

    def __init__(self, message: str) -> None:
        super().__init__(f"superior: {message}")


class SweepFailed(CompactHydraException):
    """Some runs of the sweep did not succeed; every record is written."""


class RunFailed(Exception):
    """Stands for the error of a run whose process left no result (crash, exit status, kill)."""
