# No `from __future__ import annotations` here: Hydra's plugin scanner imports this module and
# chokes on it.  This plugin is why `conf/` can stay at the top of the repo (where users edit it)
# while `pip install .` does not ship it: the config folder is found at run time.
import os
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

CONF_ENV = "IDEOLAB_CONF"


def find_conf_dir() -> Path:
    """The conf folder: $IDEOLAB_CONF, else ./conf, else the repo checkout this code lives in."""
    env = os.environ.get(CONF_ENV)
    if env:
        return Path(env).resolve()
    cwd_conf = Path.cwd() / "conf"
    if (cwd_conf / "config.yaml").is_file():
        return cwd_conf.resolve()
    # editable install or PYTHONPATH=src: src/hydra_plugins/ideolab_searchpath/ -> repo root
    return (Path(__file__).resolve().parents[3] / "conf").resolve()


class IdeolabSearchPathPlugin(SearchPathPlugin):
    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        if any(e.provider == "main" for e in search_path.get_path()):
            return  # another Hydra app with its own config_path (ideolab's main has none): leave it alone
        search_path.prepend(provider="ideolab", path=f"file://{find_conf_dir()}")
