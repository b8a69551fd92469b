"""The conformance suite every sandbox provider must pass, as public API.

Each check runs real commands through a :class:`~rsigym.sandbox.base.Sandbox` and inspects
what they did, on the host: exit codes, timeouts that kill everything the command started,
output caps, a scrubbed environment, no network, memory / process / file-size / CPU limits,
writes confined to ``cwd``, read-only paths, and private data (files next to ``cwd``, the
caller's environment, other processes in ``/proc``) out of reach. A third-party provider
tests itself with::

    from rsigym.sandbox.conformance import run_conformance

    report = run_conformance(MySandbox(), workdir=tmp_path)
    assert report.passed, report.summary()

or runs one check per test with :data:`CHECKS` and :func:`run_check`. The scripts the checks
run use the standard library only, with the interpreter ``sandbox.python()`` names.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import socket
import stat
import struct
import tempfile
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rsigym.sandbox.base import ExecResult, Limits, Sandbox

MiB = 1024**2
# Generous enough for a plain Python script; each check tightens the one limit it tests.
BASE_LIMITS = Limits(
    cpu_seconds=60, memory_bytes=1024 * MiB, processes=64, file_size_bytes=64 * MiB, output_bytes=64 * 1024
)
TIMEOUT = 60.0


class ConformanceError(AssertionError):
    """A sandbox did something the contract forbids (or failed to do what it promises)."""


Check = Callable[[Sandbox, Path], None]
CHECKS: dict[str, Check] = {}


def _check(func: Check) -> Check:
    CHECKS[func.__name__] = func
    return func


def _expect(condition: bool, message: str, result: ExecResult | None = None) -> None:
    if not condition:
        detail = f"\n--- command result ---\n{result!r}" if result is not None else ""
        raise ConformanceError(message + detail)


@dataclass
class _Layout:
    """Folders of one check: ``run`` is cwd, ``data`` is read-only, ``private`` must stay hidden."""

    root: Path
    run: Path = field(init=False)
    data: Path = field(init=False)
    private: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.run, self.data, self.private = (self.root / name for name in ("run", "data", "private"))
        for folder in (self.run, self.data, self.private):
            folder.mkdir(parents=True, exist_ok=True)


def _python(
    sandbox: Sandbox,
    layout: _Layout,
    source: str,
    *,
    limits: Limits = BASE_LIMITS,
    timeout: float = TIMEOUT,
    env: dict[str, str] | None = None,
    readonly: Sequence[Path] = (),
) -> ExecResult:
    code = textwrap.dedent(source)
    return sandbox.run([sandbox.python(), "-c", code], layout.run, timeout, env=env, limits=limits, readonly=readonly)


@contextlib.contextmanager
def _host_secret(name: str, value: str) -> Iterator[None]:
    """Put ``value`` in the caller's environment for the duration of a run."""
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _wait_until(deadline: float) -> None:
    time.sleep(max(0.0, deadline - time.monotonic()))


@_check
def exit_status(sandbox: Sandbox, root: Path) -> None:
    """Exit codes, separate stdout and stderr, shell strings, and a missing program."""
    layout = _Layout(root)
    result = _python(sandbox, layout, "import sys; print('to-out'); print('to-err', file=sys.stderr); sys.exit(3)")
    _expect(result.returncode == 3 and not result.ok and not result.timed_out, "exit code 3 not reported", result)
    _expect("to-out" in result.stdout and "to-err" not in result.stdout, "stdout not captured alone", result)
    _expect("to-err" in result.stderr, "stderr not captured", result)
    result = sandbox.run("echo shell-ok && exit 0", layout.run, TIMEOUT, limits=BASE_LIMITS)
    _expect(result.ok and "shell-ok" in result.stdout, "a string command must run through /bin/sh", result)
    result = sandbox.run(["/nonexistent/program"], layout.run, TIMEOUT, limits=BASE_LIMITS)
    _expect(result.returncode != 0 and not result.ok, "a missing program must fail, not raise", result)


@_check
def working_directory(sandbox: Sandbox, root: Path) -> None:
    """The command starts in ``cwd`` (or ``cwd/workdir``); what it writes there reaches the host, owned by the caller."""
    layout = _Layout(root)
    result = _python(sandbox, layout, "import os; print(os.getcwd()); open('made.txt', 'w').write('made-inside')")
    _expect(result.ok and result.stdout.strip() == str(layout.run), f"cwd should be {layout.run}", result)
    made = layout.run / "made.txt"
    _expect(made.is_file() and made.read_text() == "made-inside", "a file written in cwd must reach the host", result)
    _expect(made.stat().st_uid == os.getuid(), "files written in cwd must belong to the caller afterwards", result)
    (layout.run / "inner").mkdir()
    (layout.run / "inner" / "where.py").write_text("import os; open('../from-inner.txt', 'w').write(os.getcwd())")
    result = sandbox.run([sandbox.python(), "where.py"], layout.run, TIMEOUT, limits=BASE_LIMITS, workdir="inner")
    inner = layout.run / "from-inner.txt"
    _expect(result.ok and inner.is_file() and inner.read_text() == str(layout.run / "inner"),
            "a command given workdir='inner' must start in cwd/inner", result)


@_check
def timeout(sandbox: Sandbox, root: Path) -> None:
    """A command past its timeout is killed, with the processes it started, even in a new session."""
    layout = _Layout(root)
    start = time.monotonic()
    result = _python(
        sandbox,
        layout,
        """
        import subprocess, sys, time
        late = "import time; time.sleep(2.5); open('late.txt', 'w').write('survived')"
        subprocess.Popen([sys.executable, "-c", late], start_new_session=True)
        print("spawned", flush=True)
        time.sleep(60)
        """,
        timeout=2.0,
    )
    _expect(result.timed_out and not result.ok and bool(result.killed_reason), "timeout not reported", result)
    _expect("spawned" in result.stdout, "the command should have started before its timeout", result)
    _expect(result.seconds < 12, f"killing took too long ({result.seconds:.1f} s)", result)
    _wait_until(start + 4.0)
    _expect(not (layout.run / "late.txt").exists(), "a process started by a timed-out command survived", result)


@_check
def background_processes(sandbox: Sandbox, root: Path) -> None:
    """Processes a command leaves behind (even in their own session) die when it exits."""
    layout = _Layout(root)
    start = time.monotonic()
    result = _python(
        sandbox,
        layout,
        """
        import subprocess, sys
        late = "import time; time.sleep(1.5); open('late.txt', 'w').write('survived')"
        subprocess.Popen([sys.executable, "-c", late], start_new_session=True)
        print("spawned", flush=True)
        """,
    )
    _expect(result.ok and "spawned" in result.stdout, "the command should succeed", result)
    _wait_until(start + 3.0)
    _expect(not (layout.run / "late.txt").exists(), "a background process outlived its command", result)


@_check
def output_cap(sandbox: Sandbox, root: Path) -> None:
    """stdout and stderr keep only their last ``output_bytes``; the command still succeeds."""
    layout = _Layout(root)
    cap = 4096
    result = _python(
        sandbox,
        layout,
        """
        import sys
        for _ in range(400):
            print("x" * 999)
            print("y" * 999, file=sys.stderr)
        print("LAST-OUT")
        print("LAST-ERR", file=sys.stderr)
        """,
        limits=BASE_LIMITS._replace(output_bytes=cap),
    )
    _expect(result.ok, "a chatty command must still succeed", result)
    for name, text, last in (("stdout", result.stdout, "LAST-OUT"), ("stderr", result.stderr, "LAST-ERR")):
        _expect(len(text.encode()) <= cap + 200, f"{name} holds {len(text.encode())} bytes, cap is {cap}")
        _expect(last in text, f"{name} must keep the tail of the output", result)


@_check
def environment_scrubbed(sandbox: Sandbox, root: Path) -> None:
    """The command sees the variables it is given, never the caller's own."""
    layout = _Layout(root)
    token = secrets.token_hex(16)
    with _host_secret("RSIGYM_CONFORMANCE_SECRET", token):
        result = _python(
            sandbox, layout, "import json, os; print(json.dumps(dict(os.environ)))", env={"RSIGYM_GIVEN": "given-value"}
        )
    _expect(result.ok, "printing the environment failed", result)
    _expect(token not in result.stdout + result.stderr, "the caller's environment leaked into the sandbox", result)
    try:
        seen = json.loads(result.stdout)
    except ValueError:
        raise ConformanceError(f"the environment did not come back as JSON\n{result!r}") from None
    _expect(seen.get("RSIGYM_GIVEN") == "given-value", "a variable passed in env is missing", result)
    _expect(seen.get("HOME") != os.environ.get("HOME"), "HOME must not be the caller's home", result)


def _host_ipv4_addresses() -> list[str]:
    """Every IPv4 address of this host's interfaces (Linux), loopback included."""
    addresses = {"127.0.0.1"}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        for _, name in socket.if_nameindex():
            request = struct.pack("256s", name.encode()[:15])
            with contextlib.suppress(OSError):  # interfaces without IPv4
                reply = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
                addresses.add(socket.inet_ntoa(reply[20:24]))
    return sorted(addresses)


@_check
def no_network(sandbox: Sandbox, root: Path) -> None:
    """No interface but loopback, and the host's own addresses are unreachable."""
    layout = _Layout(root)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(8)
        port = listener.getsockname()[1]
        targets = [(address, port) for address in _host_ipv4_addresses()]
        result = _python(
            sandbox,
            layout,
            f"""
            import socket
            print("interfaces", sorted(name for _, name in socket.if_nameindex()))
            for target in {targets!r}:
                try:
                    socket.create_connection(target, timeout=2).close()
                    print("CONNECTED", target)
                except OSError as err:
                    print("refused", target, err)
            """,
        )
    _expect(result.ok, "the network probe failed to run", result)
    _expect("CONNECTED" not in result.stdout, "the sandbox reached the host over the network", result)
    _expect("interfaces ['lo']" in result.stdout or "interfaces []" in result.stdout, "interfaces beyond lo", result)


@_check
def memory_limit(sandbox: Sandbox, root: Path) -> None:
    """A command cannot use more memory than ``memory_bytes``."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        blocks = []
        for index in range(16):
            blocks.append(bytearray(b"\\x01") * (64 << 20))  # filled, so the pages are real
            print("holding", (index + 1) * 64, "MiB", flush=True)
        print("ALLOCATED-1GiB")
        """,
        limits=BASE_LIMITS._replace(memory_bytes=256 * MiB),
    )
    _expect("ALLOCATED-1GiB" not in result.stdout and not result.ok, "1 GiB allocated under a 256 MiB limit", result)


@_check
def process_limit(sandbox: Sandbox, root: Path) -> None:
    """A command cannot run more than ``processes`` processes at once."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        import os, signal, time
        children = []
        try:
            for _ in range(64):
                pid = os.fork()
                if pid == 0:
                    time.sleep(5)
                    os._exit(0)
                children.append(pid)
        except OSError as err:
            print("FORK-FAILED", err)
        print("STARTED", len(children), flush=True)
        for pid in children:
            os.kill(pid, signal.SIGKILL)
        """,
        limits=BASE_LIMITS._replace(processes=16),
    )
    _expect("FORK-FAILED" in result.stdout, "64 processes started under a limit of 16", result)


@_check
def file_size_limit(sandbox: Sandbox, root: Path) -> None:
    """A command cannot write a file larger than ``file_size_bytes``."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        chunk = b"z" * 65536
        print("writing", flush=True)
        try:
            with open("big.bin", "wb") as stream:
                for _ in range(64):
                    stream.write(chunk)
            print("WROTE-4MiB")
        except OSError as err:
            print("WRITE-FAILED", err)
        """,
        limits=BASE_LIMITS._replace(file_size_bytes=1 * MiB),
    )
    big = layout.run / "big.bin"
    size = big.stat().st_size if big.exists() else 0
    _expect("writing" in result.stdout, "the probe did not run", result)
    _expect("WROTE-4MiB" not in result.stdout and size <= MiB, f"wrote {size} bytes under a 1 MiB limit", result)


@_check
def cpu_time_limit(sandbox: Sandbox, root: Path) -> None:
    """A command is stopped once it spends ``cpu_seconds`` of CPU, long before its timeout."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        import time
        end = time.monotonic() + 20
        while time.monotonic() < end:
            pass
        print("SPUN-20s")
        """,
        limits=BASE_LIMITS._replace(cpu_seconds=1),
        timeout=60,
    )
    _expect("SPUN-20s" not in result.stdout and not result.ok, "20 s of CPU under a 1 s limit", result)
    _expect(not result.timed_out and bool(result.killed_reason), "the stop must name the CPU limit", result)


@_check
def readonly_paths(sandbox: Sandbox, root: Path) -> None:
    """``readonly`` paths can be read and not changed."""
    layout = _Layout(root)
    public = layout.data / "public.txt"
    public.write_text("public-content")
    result = _python(
        sandbox,
        layout,
        f"""
        data = {str(layout.data)!r}
        print(open(data + "/public.txt").read())
        for path, mode in ((data + "/public.txt", "a"), (data + "/new.txt", "w")):
            try:
                open(path, mode).write("changed")
                print("WROTE", path)
            except OSError as err:
                print("refused", path, err)
        """,
        readonly=[layout.data],
    )
    _expect(result.ok and "public-content" in result.stdout, "a readonly path must be readable", result)
    _expect("WROTE" not in result.stdout, "a readonly path was writable", result)
    _expect(public.read_text() == "public-content" and not (layout.data / "new.txt").exists(), "readonly data changed")


@_check
def confinement(sandbox: Sandbox, root: Path) -> None:
    """Nothing the command writes outside ``cwd`` reaches the host."""
    layout = _Layout(root)
    token = secrets.token_hex(8)
    targets = [
        layout.root / f"sibling-{token}.txt",
        Path(tempfile.gettempdir()) / f"rsigym-escape-{token}.txt",
        Path("/") / f"rsigym-escape-{token}.txt",
        Path.home() / f"rsigym-escape-{token}.txt",
    ]
    result = _python(
        sandbox,
        layout,
        f"""
        for path in {[str(target) for target in targets]!r} + ["../sibling-relative.txt"]:
            try:
                open(path, "w").write("escaped")
                print("wrote inside the sandbox:", path)
            except OSError as err:
                print("refused", path, err)
        print("PROBE-DONE")
        """,
    )
    escaped = [target for target in [*targets, layout.root / "sibling-relative.txt"] if target.exists()]
    for target in escaped:
        target.unlink()
    _expect(result.ok and "PROBE-DONE" in result.stdout, "the write probe failed to run", result)
    _expect(not escaped, f"writes escaped cwd onto the host: {escaped}", result)


@_check
def private_data_hidden(sandbox: Sandbox, root: Path) -> None:
    """Private data next to ``cwd``, grader files and the caller's process are out of reach."""
    layout = _Layout(root)
    token = secrets.token_hex(16)
    (layout.private / "answers.txt").write_text(f"labels {token}")
    (layout.root / "grader.py").write_text(f"SECRET = {token!r}")
    with _host_secret("RSIGYM_CONFORMANCE_SECRET", token):
        result = _python(
            sandbox,
            layout,
            f"""
            import glob, os
            def show(path):
                try:
                    with open(path, "rb") as stream:
                        print(path, stream.read(1 << 16))
                except OSError as err:
                    print("refused", path, type(err).__name__)
            for path in ["../private/answers.txt", "../grader.py", {str(layout.private / "answers.txt")!r},
                         {str(layout.root / "grader.py")!r}, "/proc/{os.getpid()}/environ"]:
                show(path)
            for pattern in ("/proc/*/environ", "/proc/*/cmdline", "/proc/*/cwd/../grader.py"):
                for path in glob.glob(pattern):
                    show(path)
            try:
                print("listing", sorted(os.listdir("..")))
            except OSError as err:
                print("refused ..", err)
            print("PROBE-DONE")
            """,
        )
    _expect(result.ok and "PROBE-DONE" in result.stdout, "the probe failed to run", result)
    leaked = token in result.stdout + result.stderr
    _expect(not leaked, "the sandbox read private data or the caller's environment", result)
    _expect("'private'" not in result.stdout, "the private folder next to cwd is visible", result)


@_check
def outputs_safe_to_read(sandbox: Sandbox, root: Path) -> None:
    """What the command leaves in ``cwd`` is safe for a trusted grader to open: no symlinks
    out of ``cwd`` (to private labels, say) and no FIFOs; files and inner links stay."""
    layout = _Layout(root)
    (layout.private / "answers.txt").write_text("labels")
    result = _python(
        sandbox,
        layout,
        f"""
        import os
        open("made.txt", "w").write("made")
        os.symlink("made.txt", "inner-link")
        os.symlink("../private/answers.txt", "relative-escape")
        os.symlink({str(layout.private / "answers.txt")!r}, "absolute-escape")
        os.mkfifo("blocking-fifo")
        """,
    )
    _expect(result.ok, "the probe failed to run", result)
    left = sorted(path.name for path in layout.run.iterdir())
    _expect(left == ["inner-link", "made.txt"], f"cwd holds {left}; want only inner-link and made.txt", result)


@_check
def unprivileged(sandbox: Sandbox, root: Path) -> None:
    """The command runs as a non-root user with no capabilities."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        import os
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
        print("euid", os.geteuid(), "capeff", int(status["CapEff"], 16))
        """,
    )
    _expect(result.ok, "the probe failed to run", result)
    _expect("euid 0 " not in result.stdout, "the command runs as root", result)
    _expect(result.stdout.strip().endswith("capeff 0"), "the command holds capabilities", result)


@_check
def descriptors_closed(sandbox: Sandbox, root: Path) -> None:
    """The command holds no descriptor but stdin, stdout and stderr: no pipe back to the
    trusted side (a status report it could flood or forge), no socket of the provider."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        import os, resource
        limit = min(resource.getrlimit(resource.RLIMIT_NOFILE)[0], 1 << 16)
        extra = []
        for fd in range(3, limit):
            try:
                os.fstat(fd)
            except OSError:
                continue
            try:
                extra.append((fd, os.readlink(f"/proc/self/fd/{fd}")))
            except OSError:
                extra.append((fd, "?"))
        print("EXTRA", extra)
        """,
    )
    _expect(result.ok and "EXTRA" in result.stdout, "the probe failed to run", result)
    _expect("EXTRA []" in result.stdout, "the command inherited descriptors beyond stdio", result)


# The System V objects a probe creates under one key, and how to find and remove them.
_SYSV_PROBE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
KEY, IPC_CREAT, IPC_RMID = {key}, 0o1000, 0
def get(kind, flags, size=1 << 24):
    if kind == "shm":
        return libc.shmget(KEY, ctypes.c_size_t(size if flags else 0), flags)
    if kind == "sem":
        return libc.semget(KEY, 1 if flags else 0, flags)
    return libc.msgget(KEY, flags)
"""


def _remove_sysv(key: int) -> list[str]:
    """Remove the System V objects under ``key`` in the caller's IPC namespace; their kinds."""
    scope: dict = {}
    exec(_SYSV_PROBE.format(key=key), scope)  # noqa: S102 - our own probe text, run on the host to clean up
    libc, found = scope["libc"], []
    for kind in ("shm", "sem", "msg"):
        ident = scope["get"](kind, 0)
        if ident >= 0:
            found.append(kind)
            if kind == "sem":
                libc.semctl(ident, 0, 0)
            else:
                getattr(libc, f"{kind}ctl")(ident, 0, None)
    return found


@_check
def ipc_private(sandbox: Sandbox, root: Path) -> None:
    """System V shared memory, semaphores and message queues a command makes die with it:
    the host never holds them afterwards and the next command cannot open them."""
    layout = _Layout(root)
    key = secrets.randbelow(1 << 30) + 1
    create = _SYSV_PROBE.format(key=key) + textwrap.dedent(
        """
        for kind in ("shm", "sem", "msg"):
            ident = get(kind, IPC_CREAT | 0o666)
            print("made", kind, ident)
            if kind == "shm" and ident >= 0:
                libc.shmat.restype = ctypes.c_void_p
                address = libc.shmat(ident, None, 0)
                if address not in (None, ctypes.c_void_p(-1).value):
                    ctypes.memset(address, 1, 1 << 24)  # resident, not just reserved
                    libc.shmdt(ctypes.c_void_p(address))
        """
    )
    probe = _SYSV_PROBE.format(key=key) + 'print("FOUND", [kind for kind in ("shm", "sem", "msg") if get(kind, 0) >= 0])'
    try:
        made = _python(sandbox, layout, create)
        on_host = _remove_sysv(key)
        seen = _python(sandbox, layout, probe)
    finally:
        on_host_later = _remove_sysv(key)
    _expect(made.ok and "made msg" in made.stdout, "the IPC probe failed to run", made)
    _expect(not on_host, f"System V objects of the command outlived it on the host: {on_host}", made)
    _expect(seen.ok and "FOUND" in seen.stdout, "the IPC probe failed to run", seen)
    _expect("FOUND []" in seen.stdout and not on_host_later, "the next command opened the last one's IPC objects", seen)


_KEYS_PROBE = """
import ctypes, platform
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = {{"x86_64": (248, 250), "aarch64": (217, 219)}}.get(platform.machine(), (-1, -1))
SESSION, USER, SEARCH, READ, INVALIDATE = -3, -4, 10, 11, 21
NAME = b"rsigym-conformance-{token}"
def keyctl(*args):
    return libc.syscall(ctypes.c_long(KEYCTL), *[ctypes.c_long(arg) if isinstance(arg, int) else arg for arg in args])
def find(keyring):
    return keyctl(SEARCH, keyring, b"user", NAME, 0)
"""


def _invalidate_probe_keys(token: str) -> list[str]:
    """Invalidate the probe's key where the caller's own keyrings hold it; which keyrings did."""
    scope: dict = {}
    exec(_KEYS_PROBE.format(token=token), scope)  # noqa: S102 - our own probe text, run on the host to clean up
    found = []
    for name, keyring in (("session", -3), ("user", -4)):
        key = scope["find"](keyring)
        if key >= 0:
            found.append(name)
            scope["keyctl"](scope["INVALIDATE"], key)
    return found


@_check
def keyrings_private(sandbox: Sandbox, root: Path) -> None:
    """Kernel keyrings (not namespaced) do not carry keys between a command, the caller and
    the next command: what a command adds to its session or user keyring is gone after it."""
    layout = _Layout(root)
    token = secrets.token_hex(8)
    add = _KEYS_PROBE.format(token=token) + textwrap.dedent(
        f"""
        for keyring in (SESSION, USER):
            print("added", libc.syscall(ctypes.c_long(ADD_KEY), b"user", NAME, b"{token}", ctypes.c_size_t(16),
                                        ctypes.c_long(keyring)))
        """
    )
    probe = _KEYS_PROBE.format(token=token) + textwrap.dedent(
        """
        found = []
        for keyring in (SESSION, USER):
            key = find(keyring)
            if key >= 0:
                buffer = ctypes.create_string_buffer(64)
                keyctl(READ, key, buffer, 64)
                found.append(buffer.value.decode())
        print("FOUND", found)
        """
    )
    try:
        added = _python(sandbox, layout, add)
        in_caller = _invalidate_probe_keys(token)
        seen = _python(sandbox, layout, probe)
    finally:
        _invalidate_probe_keys(token)
    _expect(added.ok and "added" in added.stdout, "the keyring probe failed to run", added)
    _expect(not in_caller, f"the command's key reached the caller's {in_caller} keyring", added)
    _expect(seen.ok and "FOUND" in seen.stdout, "the keyring probe failed to run", seen)
    _expect("FOUND []" in seen.stdout, "the next command read the last one's key", seen)


# Pseudo-devices any provider may show besides the ones it says it passes (docker adds a tty set).
STANDARD_DEVICES = frozenset({"null", "zero", "full", "random", "urandom", "tty", "ptmx", "console", "pts/ptmx"})


def _expected_devices(sandbox: Sandbox) -> dict[str, tuple[int, int]]:
    """``{name under /dev: (major, minor)}`` of every node the sandbox says it passes."""
    from rsigym.sandbox.gpu import device_name_in_sandbox

    expected = {}
    for host_path in sandbox.devices():
        target = device_name_in_sandbox(host_path).removeprefix("/dev/")
        nodes = [(host_path, target)]
        if os.path.isdir(host_path):
            nodes = [(os.path.join(folder, name), os.path.join(target, os.path.relpath(os.path.join(folder, name), host_path)))
                     for folder, _, names in os.walk(host_path) for name in names]
        for node, name in nodes:
            info = os.stat(node)
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                expected[name] = (os.major(info.st_rdev), os.minor(info.st_rdev))
    return expected


@_check
def devices(sandbox: Sandbox, root: Path) -> None:
    """The command sees exactly the devices it was given (GPUs passed through among them) and
    the standard pseudo-devices, no other, and can open every device it was given."""
    layout = _Layout(root)
    expected = _expected_devices(sandbox)
    result = _python(
        sandbox,
        layout,
        f"""
        import json, os, stat
        seen, refused = {{}}, {{}}
        for folder, dirs, names in os.walk("/dev"):
            for name in dirs + names:
                path = os.path.join(folder, name)
                try:
                    info = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode):
                    seen[os.path.relpath(path, "/dev")] = [os.major(info.st_rdev), os.minor(info.st_rdev)]
        for name in {sorted(expected)!r}:
            try:
                os.close(os.open("/dev/" + name, os.O_RDWR))
            except OSError as err:
                refused[name] = str(err)
        print(json.dumps({{"seen": seen, "refused": refused}}))
        """,
    )
    _expect(result.ok, "the device probe failed to run", result)
    try:
        report = json.loads(result.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise ConformanceError(f"the device probe printed no report\n{result!r}") from None
    seen = {name: tuple(numbers) for name, numbers in report["seen"].items()}
    extra = sorted(name for name in seen if name not in expected and name not in STANDARD_DEVICES and not name.startswith("pts/"))
    _expect(not extra, f"devices the sandbox was not given are visible: {extra[:12]}", result)
    missing = sorted(name for name in expected if seen.get(name) != expected[name])
    _expect(not missing, f"devices the sandbox was given are missing or differ: {missing}", result)
    _expect(not report["refused"], f"given devices cannot be opened by the command: {report['refused']}", result)


def check_gpu(sandbox: Sandbox, root: Path) -> str:
    """Inside ``sandbox``: ``torch.cuda.is_available()`` and a Triton kernel that runs on the GPU
    and computes the right answer. Raises :class:`ConformanceError`; returns the device name.
    Needs torch and Triton in the sandbox's interpreter; not part of :data:`CHECKS` (a CPU
    machine has no GPU to pass)."""
    layout = _Layout(root)
    result = _python(
        sandbox,
        layout,
        """
        import torch, triton, triton.language as tl
        print("cuda", torch.cuda.is_available(), flush=True)

        @triton.jit
        def add_one(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
            offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
            mask = offsets < n
            tl.store(out_ptr + offsets, tl.load(x_ptr + offsets, mask=mask) + 1.0, mask=mask)

        x = torch.arange(1000, device="cuda", dtype=torch.float32)
        out = torch.empty_like(x)
        add_one[(triton.cdiv(1000, 256),)](x, out, 1000, BLOCK=256)
        torch.cuda.synchronize()
        print("triton", bool(torch.equal(out.cpu(), torch.arange(1000, dtype=torch.float32) + 1)))
        print("device", torch.cuda.get_device_name())
        """,
        limits=BASE_LIMITS._replace(memory_bytes=None, processes=256),
        timeout=300,
    )
    _expect("cuda True" in result.stdout, "torch.cuda.is_available() is False inside the sandbox", result)
    _expect(result.ok and "triton True" in result.stdout, "a Triton kernel did not run correctly on the GPU inside the sandbox", result)
    return result.stdout.split("device", 1)[1].strip()


def run_check(sandbox: Sandbox, name: str, workdir: Path) -> None:
    """Run the check ``name`` in a fresh folder under ``workdir``; raise :class:`ConformanceError` on failure."""
    folder = Path(workdir) / name
    folder.mkdir(parents=True, exist_ok=False)
    CHECKS[name](sandbox, folder)


@dataclass
class ConformanceReport:
    """Outcome of every check run: ``None`` for a pass, else the failure message."""

    results: dict[str, str | None]

    @property
    def passed(self) -> bool:
        return all(message is None for message in self.results.values())

    @property
    def failures(self) -> dict[str, str]:
        return {name: message for name, message in self.results.items() if message is not None}

    def summary(self) -> str:
        lines = [f"{'PASS' if message is None else 'FAIL'} {name}" for name, message in self.results.items()]
        lines += [f"\n{name}: {message}" for name, message in self.failures.items()]
        return "\n".join(lines)


def run_conformance(sandbox: Sandbox, workdir: Path, skip: Sequence[str] = ()) -> ConformanceReport:
    """Run every check in :data:`CHECKS` except ``skip`` against ``sandbox``, in folders under ``workdir``."""
    results: dict[str, str | None] = {}
    for name in CHECKS:
        if name in skip:
            continue
        try:
            run_check(sandbox, name, workdir)
            results[name] = None
        except ConformanceError as err:
            results[name] = str(err)
        except Exception as err:  # noqa: BLE001 - a provider that raises fails the check, not the suite
            results[name] = f"raised {type(err).__name__}: {err}"
    return ConformanceReport(results)
