"""llama.cpp's own `llama-server`, the latency peer: built once from the llama.cpp that the
llama-cpp-python sdist vendors (the same version ghostwright runs), cached in the user cache.

Nothing of it is committed: the sdist comes from PyPI, the build from CMake on this machine. When
any step fails (no network to PyPI, no compiler), `ensure_llama_server` says why and returns None,
and the benchmark skips that side.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from ghostwright.indexer.llama_native import has_amx


def cache_dir() -> Path:
    import platformdirs

    version = metadata.version("llama-cpp-python")
    return Path(platformdirs.user_cache_dir("ghostwright")) / "bench" / f"llama-cpp-{version}"


def ensure_llama_server(log: callable = print) -> Path | None:  # type: ignore[valid-type]
    """The llama-server binary, building it the first time (about 10 minutes on 2 cores)."""
    binary = cache_dir() / "llama-server"
    if binary.is_file():
        return binary
    version = metadata.version("llama-cpp-python")
    log(f"building llama-server from the llama-cpp-python {version} sdist (once, cached)")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        try:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
                 f"llama-cpp-python=={version}", "-d", str(work)],
                check=True, capture_output=True, timeout=600,
            )  # fmt: skip
            (archive,) = work.glob("llama_cpp_python-*.tar.gz")
            with tarfile.open(archive) as sdist:
                sdist.extractall(work, filter="data")
            (source,) = work.glob(f"llama_cpp_python-{version}/vendor/llama.cpp")
            build = work / "build"
            subprocess.run(
                ["cmake", "-S", str(source), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
                 "-DLLAMA_CURL=OFF", "-DGGML_NATIVE=ON", "-DLLAMA_BUILD_TESTS=OFF",
                 "-DBUILD_SHARED_LIBS=OFF"],  # one binary, copied out of the scratch build
                check=True, capture_output=True, timeout=600,
            )  # fmt: skip
            subprocess.run(
                ["cmake", "--build", str(build), "--target", "llama-server", "-j", "2"],
                check=True, capture_output=True, timeout=3600,
            )  # fmt: skip
        except (subprocess.SubprocessError, ValueError, OSError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            log(f"cannot build llama-server ({exc}); {detail.decode(errors='replace')[-400:]}")
            return None
        built = next(build.rglob("llama-server"), None)
        if built is None:
            log("cannot build llama-server: the build produced no binary")
            return None
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_bytes(built.read_bytes())
        binary.chmod(0o755)
    return binary


@contextlib.contextmanager
def running(binary: Path, model: Path, threads: int, port: int = 8012) -> Iterator[str]:
    """llama-server on loopback with the model, as llama.vim's README starts it."""
    command = [
        str(binary), "-m", str(model), "--port", str(port), "--host", "127.0.0.1",
        "-t", str(threads), "-tb", str(threads), "-c", "2048", "-ub", "512", "-b", "512",
        "--cache-reuse", "256", "-np", "1",
    ]  # fmt: skip
    if has_amx():  # as ghostwright loads it: llama.cpp's AMX kernels crash (llama_native.py)
        command.append("--no-repack")
    # Its log goes to a file: a pipe nobody reads fills up and stalls the server mid-run.
    log = tempfile.TemporaryFile()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                    if json.loads(answer.read()).get("status") == "ok":
                        break
            except OSError:
                pass
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"llama-server exited: {log.read()[-400:]!r}")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(30)
        log.close()
