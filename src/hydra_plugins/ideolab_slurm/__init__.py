# `hydra/launcher=slurm` and `hydra/launcher=slurm_local`: experiment grids on a SLURM cluster (or locally)
# through hydra-submitit-launcher, one job array per resource class.  Imported by Hydra's plugin scanner
# at every start-up: nothing here may import submitit (an optional extra) or anything slow, and no
# `from __future__ import annotations` in this package (the scanner then fails on the config dataclasses).
__version__ = "0.1.0"
