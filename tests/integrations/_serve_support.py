"""Start `rsigym serve` as a user does (a subprocess on loopback) and watch its run directories."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[2]
# The cheapest env: one toy task, every other keyword at its default.
WINE = ["RSI-MLE-v0", "--suite", "toy", "--tasks", "wine", "--seed", "0"]
BETTER_WINE_CONFIG = (ROOT / "envs" / "toy" / "wine" / "reference" / "config.json").read_text()
START_TIMEOUT_S = 180  # importing torch & co. on a loaded CI machine


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_env(tmp: Path, **extra: str) -> dict[str, str]:
    """The test's environment (its host key included) with TMPDIR at ``tmp``, where the server's envs
    make their temporary run directories."""
    tmp.mkdir(parents=True, exist_ok=True)
    return {**os.environ, "TMPDIR": str(tmp), **extra}


def run_dirs(tmp: Path) -> list[Path]:
    """The env run directories present under ``tmp`` (RSIEnv's temporary ones)."""
    return sorted(tmp.glob("rsigym-run-*"))


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def http_server(tmp: Path, *args: str) -> Iterator[str]:
    """``rsigym serve ARGS --port P`` running until the block ends; yields ``http://127.0.0.1:P``."""
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    log = (tmp / "server.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "rsigym", "serve", *args, "--port", str(port)],
                               env=server_env(tmp / "tmp"), stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"rsigym serve exited with {process.returncode}: {(tmp / 'server.log').read_text()}")
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    try:
        wait_until(listening, START_TIMEOUT_S, "rsigym serve to listen")
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
