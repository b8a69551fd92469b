"""The wheel carries every subpackage and the task files, and imports from outside the checkout."""
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"rsigym": ROOT / "rsigym", "rsigym.envs": ROOT / "envs", "rsigym.wrappers": ROOT / "wrappers",
                "rsigym.baselines": ROOT / "baselines", "rsigym.integrations": ROOT / "integrations"}


def _discovered_packages() -> set[str]:
    found = set()
    for name, folder in PACKAGE_DIRS.items():
        for init in folder.rglob("__init__.py"):
            relative = init.parent.relative_to(folder).parts
            found.add(".".join((name, *relative)) if relative else name)
    return found


def test_pyproject_lists_every_package():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    assert listed == _discovered_packages(), "update [tool.setuptools] packages in pyproject.toml"


@pytest.mark.slow
def test_built_wheel_imports_from_outside_the_checkout(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("rsigym-*.whl"))
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    probe = (
        "import rsigym, rsigym.envs, rsigym.wrappers, rsigym.baselines, gymnasium as gym\n"
        "from pathlib import Path\n"
        f"assert Path(rsigym.__file__).is_relative_to({str(target)!r}), rsigym.__file__\n"
        "from rsigym.envs.suites import load_suite\n"
        "tasks = load_suite('default')\n"
        "for t in tasks:\n"
        "    assert (t.starter_dir / t.entry).is_file(), t.id\n"
        "    assert (t.folder / 'description.md').is_file(), t.id\n"
        "    assert t.shared_lib_dir is None or any(t.shared_lib_dir.iterdir()), t.id\n"
        "assert 'RSI-MLE-v0' in gym.registry\n"
        "print(len(tasks))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout.strip()) >= 5
