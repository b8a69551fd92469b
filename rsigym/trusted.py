"""A run's trusted state: the settings its budget comes from and the key that signs its grades.

Everything here lives in ``<run>/trusted/`` (mode 0700, files 0600), beside the workspace but
never in it and never in any sandbox's view. ``<run>/env.json`` stays as a readable copy of the
settings for people and tools; :func:`load_settings` never reads it, so editing it (say,
``iterations`` from 2 to 50) changes nothing.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

TRUSTED_DIR = "trusted"
_KEY_FILE = "grades.key"
_SETTINGS_FILE = "env.json"


def trusted_dir(run_dir: Path) -> Path:
    """``<run>/trusted``, created owner-only (0700) if missing."""
    folder = Path(run_dir) / TRUSTED_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    return folder


def write_private(path: Path, data: bytes, exclusive: bool = False) -> None:
    """Write ``data`` to a new 0600 file at ``path`` (atomically replacing it unless ``exclusive``)."""
    target = path if exclusive else path.with_name(path.name + ".tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    if not exclusive:
        target.unlink(missing_ok=True)
    descriptor = os.open(target, flags, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(data)
    if not exclusive:
        os.replace(target, path)


def run_key(run_dir: Path) -> bytes:
    """The run's secret HMAC key (32 random bytes), created on first use."""
    path = trusted_dir(run_dir) / _KEY_FILE
    try:
        write_private(path, secrets.token_bytes(32), exclusive=True)
    except FileExistsError:  # made earlier, or by another env of this run a moment ago
        pass
    key = path.read_bytes()
    if len(key) != 32:
        raise ValueError(f"{path} is not an rsigym key (expected 32 bytes)")
    return key


def sign(key: bytes, *parts: bytes) -> str:
    """HMAC-SHA256 of ``parts`` (length-prefixed, so no two lists of parts sign alike)."""
    mac = hmac.new(key, digestmod=hashlib.sha256)
    for part in parts:
        mac.update(len(part).to_bytes(8, "big") + part)
    return mac.hexdigest()


def verify(key: bytes, signature: Any, *parts: bytes) -> bool:
    """True when ``signature`` is :func:`sign` of ``parts`` under ``key`` (constant time)."""
    return isinstance(signature, str) and hmac.compare_digest(signature, sign(key, *parts))


def save_settings(run_dir: Path, settings: dict[str, Any]) -> None:
    """Keep the env id and arguments a run is rebuilt from (its budget among them)."""
    write_private(trusted_dir(run_dir) / _SETTINGS_FILE, (json.dumps(settings, indent=2, default=str) + "\n").encode())


def load_settings(run_dir: Path) -> dict[str, Any]:
    """The settings :func:`save_settings` kept; ``FileNotFoundError`` if there are none."""
    path = Path(run_dir) / TRUSTED_DIR / _SETTINGS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not an rsigym run directory (no {TRUSTED_DIR}/{_SETTINGS_FILE})")
    return json.loads(path.read_text())
