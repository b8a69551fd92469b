"""Instance secrets, the host key and hidden leak sources (docs/security.md, "Test data out of
the sandbox's reach")."""
from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from rsigym.sandbox import LocalSandbox
from rsigym.sandbox.hidden import hide_leak_sources, hidden_paths, resolve_leak_source
from rsigym.sandbox.local import confinement_available
from rsigym.tasks import (
    HOST_KEY_ENV,
    INSTANCE_SECRET_FILE,
    TaskSpec,
    TaskSpecError,
    host_key,
    instance_secret,
    using_host_key_file,
)


def test_the_host_key_is_made_once_owner_only_and_can_be_shared(tmp_path, monkeypatch):
    monkeypatch.setenv(HOST_KEY_ENV, str(tmp_path / "keys" / "host.key"))
    key = host_key()
    assert len(key) == 32 and host_key() == key
    assert stat.S_IMODE((tmp_path / "keys" / "host.key").stat().st_mode) == 0o600
    monkeypatch.setenv(HOST_KEY_ENV, str(tmp_path / "other.key"))
    assert host_key() != key  # another machine's key
    (tmp_path / "other.key").write_text(key.hex())  # ... unless the file is shared
    assert host_key() == key


def test_the_secret_follows_the_seed_and_the_key_never_the_seed_alone(tmp_path):
    (tmp_path / "a.key").write_text("aa" * 32)
    (tmp_path / "b.key").write_text("bb" * 32)
    with using_host_key_file(tmp_path / "a.key"):
        first = instance_secret("digits", 5, tmp_path / "p1")
        assert instance_secret("digits", 5, tmp_path / "p2") == first
        assert instance_secret("digits", 6, tmp_path / "p3") != first
        assert instance_secret("wine", 5, tmp_path / "p4") != first
    with using_host_key_file(tmp_path / "b.key"):
        assert instance_secret("digits", 5, tmp_path / "p5") != first
    record = tmp_path / "p1" / INSTANCE_SECRET_FILE
    assert record.read_text().strip() == first.hex() and stat.S_IMODE(record.stat().st_mode) == 0o600


def test_specs_reject_malformed_leak_sources():
    spec = dict(id="t", category="mle", metric="accuracy", direction="max", human_minutes=10, baseline=0.5, reference=1.0)
    TaskSpec(**spec, leak_sources=("sklearn:datasets/data", "stdlib:idlelib")).validate()
    for bad in ("sklearn", "sklearn:../../etc", "sklearn:/etc", "no package:x"):
        with pytest.raises(TaskSpecError, match="leak source"):
            TaskSpec(**spec, leak_sources=(bad,)).validate()


def test_leak_sources_resolve_in_this_interpreter():
    import sklearn

    first = resolve_leak_source("sklearn:datasets/data")[0]
    assert first == Path(sklearn.__file__).parent.resolve() / "datasets" / "data"
    assert resolve_leak_source("no_such_package_here:data") == []


@pytest.mark.skipif(not confinement_available(), reason="confined mode needs root and unshare")
@pytest.mark.parametrize("warm", [True, False], ids=["warm", "cold"])
def test_a_confined_run_cannot_read_a_declared_leak_source(tmp_path, warm):
    hide_leak_sources(["sklearn:datasets/data"])
    assert any(p.endswith("sklearn/datasets/data") for p in hidden_paths())
    here = subprocess.run([sys.executable, "-c", "from sklearn.datasets import load_digits; print(len(load_digits().data))"],
                          capture_output=True, text=True, check=True)
    assert here.stdout.strip() == "1797"  # outside the sandbox the data is there
    code = "from sklearn.datasets import load_digits\ntry:\n    load_digits()\n    print('READ')\nexcept OSError as err:\n    print('HIDDEN', type(err).__name__)\n"
    (tmp_path / "probe.py").write_text(code)
    result = LocalSandbox(confine=True, warm=warm).run([sys.executable, "probe.py"], tmp_path, timeout=120)
    assert result.ok, result.tail()
    assert "HIDDEN" in result.stdout and "READ" not in result.stdout
