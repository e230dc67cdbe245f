"""Run untrusted, model-written Python in a separate process that cannot harm the host.

Every run gets: a fresh temporary working directory, an empty environment (no inherited API keys
or tokens), `python -I` (no user site-packages, no PYTHON* variables), limits on address space,
CPU time, file size and core dumps, its own process group (killed whole on timeout), and - when
bubblewrap (`bwrap`) is installed - a sandbox in which only the system libraries and the Python
installation are visible (read-only), /tmp is empty, and there is no network: the project, the
home directory and its credentials do not exist in there. Without bwrap a Python audit hook
refuses writes, deletes and renames outside the working directory, subprocesses and sockets;
that hook stops accidents, not a determined attacker (ctypes can get around it).
"""

from __future__ import annotations

import functools
import logging
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0  # the canonical solutions all finish within 3 s
DEFAULT_MEMORY_MB = 1024
MAX_FILE_BYTES = 16 * 1024 * 1024
SAFE_PATH = "/usr/local/bin:/usr/bin:/bin"

# Prepended when bwrap is missing: refuse what a careless completion could do to the host.
AUDIT_GUARD = """
import os as _os, sys as _sys
_root = _os.path.realpath(_os.getcwd())
def _inside(path):
    try:
        return _os.path.realpath(_os.fsdecode(path)).startswith(_root + _os.sep)
    except Exception:
        return False
def _guard(event, args):
    if event == "open" and args[1] not in (None, "r", "rb", "rt") and not _inside(args[0]):
        raise PermissionError("sandbox: write outside the working directory")
    if event in ("os.remove", "os.rmdir", "shutil.rmtree", "os.rename", "os.truncate",
                 "os.chmod", "os.chown", "os.symlink", "os.link") and not _inside(args[0]):
        raise PermissionError("sandbox: " + event + " outside the working directory")
    if event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.fork",
                 "socket.connect", "socket.bind", "ctypes.dlopen"):
        raise PermissionError("sandbox: " + event + " is not allowed")
_sys.addaudithook(_guard)
del _guard
"""


@dataclass(frozen=True)
class ExecResult:
    """How one program ended."""

    status: str  # passed | failed | timeout
    detail: str = ""  # the last line of stderr, for the per-case log

    @property
    def passed(self) -> bool:
        return self.status == "passed"


@functools.cache
def bubblewrap() -> str | None:
    """The bwrap binary, if it exists and can create a sandbox on this machine."""
    path = shutil.which("bwrap")
    if path is None:
        return None
    probe = subprocess.run(
        [path, "--ro-bind", "/", "/", "--unshare-all", "--die-with-parent", "true"],
        capture_output=True,
        timeout=10,
    )
    if probe.returncode != 0:
        logger.warning("bwrap cannot create a sandbox here; using the audit-hook fallback")
        return None
    return path


def isolation() -> str:
    """A short description of the isolation in use, for reports."""
    return "bubblewrap" if bubblewrap() else "audit-hook"


def run_python(
    code: str, timeout_s: float = DEFAULT_TIMEOUT_S, memory_mb: int = DEFAULT_MEMORY_MB
) -> ExecResult:
    """Run `code` as a script; passed means exit status 0 within the time limit."""
    with tempfile.TemporaryDirectory(prefix="ghostwright-exec-") as workdir:
        script = Path(workdir) / "candidate.py"
        sandbox = bubblewrap()
        script.write_text(code if sandbox else AUDIT_GUARD + code, encoding="utf-8")
        command = [sys.executable, "-I", str(script)]
        if sandbox:
            command = _bwrap_command(sandbox, workdir) + command
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env={"PATH": SAFE_PATH, "HOME": workdir, "LANG": "C.UTF-8"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=functools.partial(_limit, timeout_s, memory_mb),
        )
        try:
            _, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            return ExecResult("timeout", f"no result within {timeout_s:.0f} s")
    if process.returncode == 0:
        return ExecResult("passed")
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return ExecResult("failed", lines[-1][:300] if lines else f"exit {process.returncode}")


def _bwrap_command(bwrap: str, workdir: str) -> list[str]:
    """Only the system libraries and this Python installation are visible, read-only."""
    # Order matters: a later mount covers an earlier one, so the empty /tmp comes before the
    # Python installation and the working directory, which may both live under /tmp.
    mounts = [*_system_mounts(), "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    mounts += [*_python_mounts(), "--bind", workdir, workdir, "--chdir", workdir]
    environment = [
        "--setenv",
        "PATH",
        SAFE_PATH,
        "--setenv",
        "HOME",
        workdir,
        "--setenv",
        "LANG",
        "C.UTF-8",
    ]
    isolation = ["--unshare-all", "--die-with-parent", "--new-session", "--clearenv"]
    return [bwrap, *mounts, *isolation, *environment]


@functools.cache
def _system_mounts() -> tuple[str, ...]:
    args: list[str] = []
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        path = Path(top)
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            args += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            args += ["--ro-bind", top, top]
    return tuple(args)


@functools.cache
def _python_mounts() -> tuple[str, ...]:
    """This interpreter, its standard library and its virtual environment, read-only."""
    directories = {
        os.path.realpath(sys.base_prefix),
        os.path.realpath(sys.prefix),
        sys.prefix,
        os.path.dirname(os.path.realpath(sys.executable)),
    }
    args: list[str] = []
    for directory in sorted(directories):
        if not directory.startswith(("/usr/", "/bin", "/lib")):
            args += ["--ro-bind", directory, directory]
    return tuple(args)


def _limit(timeout_s: float, memory_mb: int) -> None:
    """Runs in the child before exec: resource limits that the program cannot raise."""
    memory = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    cpu = int(timeout_s) + 1
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
