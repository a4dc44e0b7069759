"""`python -m app` — the Hydra entry point."""

import hydra
from omegaconf import DictConfig

import app.config_schema  # noqa: F401  (registers the schema and the ${ideolab_root:} resolver)
from app.main import run_stage


@hydra.main(version_base="1.3", config_path=None, config_name="config")
def main(cfg: DictConfig) -> float | None:
    return run_stage(cfg)


if __name__ == "__main__":
    main()
