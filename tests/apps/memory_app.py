"""A small Hydra app for the launcher's tests and benchmarks: it holds N MB for T seconds.

Shaped like ideolab's runs as far as the launcher cares: `models` (families -> resource class),
`hardware.max_train_docs_*` (what oom_policy=backoff reduces), `seed`, `repeat`, and a `run.json`
with per-model metrics in the job folder (what early_stop reads).

    python tests/apps/memory_app.py -m hold_mb=100,200 hold_s=1 hydra/launcher=superior

Memory held: hold_mb; or family_mb[family] (and family_s[family] seconds) with hold_by_family=true;
or, when mb_per_doc > 0, mb_per_doc x min(n_train, the family's cap), so that halving the cap
halves the memory (as a real training subsample would).
"""

import json
import os
import resource
import sys
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig


def _held_mb(cfg: DictConfig) -> float:
    if cfg.mb_per_doc > 0:
        cap = cfg.hardware.get(f"max_train_docs_{cfg.family}")
        docs = cfg.n_train if cap is None else min(cfg.n_train, cap)
        return cfg.mb_per_doc * docs
    if cfg.hold_by_family:
        return float(cfg.family_mb[cfg.family])
    return float(cfg.hold_mb)


@hydra.main(version_base="1.3", config_path="conf", config_name="memory_app")
def main(cfg: DictConfig):
    t_start = time.time()
    out = Path(HydraConfig.get().runtime.output_dir)
    if cfg.executions_log:
        with open(cfg.executions_log, "a") as f:
            f.write(json.dumps({"overrides": list(HydraConfig.get().overrides.task), "pid": os.getpid(),
                                "job_num": HydraConfig.get().job.num}) + "\n")
    mb = _held_mb(cfg)
    blocks = []
    steps = max(1, int(cfg.ramp_steps))
    for _ in range(steps):  # allocate in steps over ramp_s (a hard limit then catches it mid-run)
        blocks.append(bytearray(b"\x01") * int(mb * 1024 * 1024 / steps))
        if cfg.ramp_s:
            time.sleep(cfg.ramp_s / steps)
    time.sleep(cfg.family_s[cfg.family] if cfg.hold_by_family else cfg.hold_s)
    if cfg.raise_memory_error:
        raise MemoryError("simulated")
    if cfg.fail:
        raise RuntimeError("simulated failure")
    if cfg.exit_code:
        print("memory_app: error: simulated bad input", file=sys.stderr)
        sys.exit(int(cfg.exit_code))
    models = []
    for model_id, m in cfg.models.items():
        metrics_path = out / "reports" / m.family / model_id / "metrics.json"
        metrics_path.parent.mkdir(parents=True, exist_ok=True)
        metrics = {"accuracy": cfg.accuracy, "macro_f1": cfg.macro_f1}
        metrics_path.write_text(json.dumps(metrics))
        models.append({"family": m.family, "model_id": model_id, "resource_class": None,
                       "metrics_path": str(metrics_path), **metrics})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    record = {"status": "success", "stage": cfg.stage, "dataset_id": cfg.dataset_id, "view": None,
              "seed": cfg.seed, "repeat": cfg.repeat, "peak_rss_mb": peak, "held_mb": mb,
              "n_train": cfg.n_train, "pid": os.getpid(), "t_start": t_start, "t_end": time.time(),
              "models": models}
    (out / "run.json").write_text(json.dumps(record, indent=1))
    del blocks
    return {"seed": cfg.seed, "repeat": cfg.repeat, "held_mb": mb}


if __name__ == "__main__":
    main()
