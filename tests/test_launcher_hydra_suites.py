"""Hydra's own launcher test suites, run against `hydra/launcher=superior` (as Hydra's joblib,
submitit and ray launchers do in their own repositories)."""

import pytest
from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.test_utils.launcher_common_tests import IntegrationTestSuite, LauncherTestSuite

# the `hydra_sweep_runner` fixture comes from Hydra's pytest plugin (hydra.extra.pytest_plugin)
from hydra_plugins.superior_launcher.superior_launcher import SuperiorLauncher


def test_discovery() -> None:
    assert SuperiorLauncher.__name__ in [x.__name__ for x in Plugins.instance().discover(Launcher)]


@pytest.mark.slow
@pytest.mark.parametrize(
    "launcher_name, overrides",
    [
        ("superior", []),
        ("superior", ["hydra.launcher.start_method=spawn", "hydra.launcher.parallel=2"]),
    ],
    ids=["forkserver", "spawn"],
)
class TestSuperiorLauncher(LauncherTestSuite):
    pass


@pytest.mark.slow
@pytest.mark.parametrize(
    "task_launcher_cfg, extra_flags",
    [
        (
            {
                "defaults": [
                    {"override hydra/launcher": "superior"},
                    {"override hydra/hydra_logging": "hydra_debug"},
                    {"override hydra/job_logging": "disabled"},
                ]
            },
            ["-m"],
        )
    ],
)
class TestSuperiorLauncherIntegration(IntegrationTestSuite):
    @pytest.fixture(autouse=True)
    def _foreign_app(self, tmp_path_factory, monkeypatch):
        # These apps are not ideolab: keep ideolab's search-path plugin from offering them its
        # conf/config.yaml (it adds ./conf or the checkout's conf/ to every Hydra app's search path).
        monkeypatch.setenv("IDEOLAB_CONF", str(tmp_path_factory.mktemp("no_ideolab_conf")))
