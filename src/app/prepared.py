"""The prepared-data folder as an object: its splits, its meta, its extra formats."""

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

SPLITS = ("train", "job")


@dataclass
class PreparedData:
    dir: Path

    @property
    def meta(self) -> dict:
        return json.loads((self.dir / "meta_view.json").read_text(encoding="utf-8"))

    def split_path(self, split: str) -> Path:
        return self.dir / f"{split}.tsv"

    def read_split(self, split: str) -> "pd.DataFrame":
        import pandas as pd  # here, not at import: `stage=prepare` never loads pandas

        df = pd.read_csv(
            self.split_path(split), sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL
        )
        df["n_words"] = df["n_words"].astype(int)
        return df

    @property
    def formats(self) -> dict:
        path = self.dir / "meta_formats.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
