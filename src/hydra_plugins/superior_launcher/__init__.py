# The `superior` launcher (hydra/launcher=superior): experiment grids under a RAM budget, one fresh
# process per run.  Kept empty on purpose: Hydra's plugin scanner imports every module under
# hydra_plugins/ at start-up, so nothing here may be slow to import.  No `from __future__ import
# annotations` in this package either (the scanner then fails on the config dataclasses).
__version__ = "0.1.0"
