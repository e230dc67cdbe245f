"""llama.cpp glue shared by every in-process model (the completion model and the embedder).

Both load through `load_quietly`: llama-cpp-python's `verbose=False` points file descriptors 1 and
2 at /dev/null while it loads, process-wide, and a language server answering on stdout from
another thread would lose those answers. Native logs go to our logger instead.

`load_quietly` also keeps llama.cpp off its AMX kernels: on Intel CPUs with AMX (Sapphire
Rapids and later) a llama.cpp built with them repacks the weights into an AMX buffer and the
first evaluation of a Q4_K model dies with a segmentation fault in `ggml_backend_amx_mul_mat`
(llama.cpp issue 20824, unfixed; every packaged tier crashed on such a machine). Loading without
llama.cpp's "extra" buffer types keeps the weights in plain CPU buffers, served by the AVX512
kernels the same CPU also has.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

import llama_cpp
import numpy as np
import numpy.typing as npt

native_logger = logging.getLogger("ghostwright.llama_cpp.native")


@llama_cpp.llama_log_callback
def _route_native_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    """llama.cpp logs to stderr even when told not to; keep it in our log at debug level."""
    native_logger.debug("%s", text.decode("utf-8", errors="replace").rstrip())


llama_cpp.llama_log_set(_route_native_log, ctypes.c_void_p(0))


def load_quietly(**kwargs: Any) -> llama_cpp.Llama:
    """`llama_cpp.Llama(**kwargs)` with its Python-level banner sent to a scratch buffer, and
    without the AMX buffers where this llama.cpp has them (see the module's docstring)."""
    with (
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
        amx_safe_loading(),
    ):
        llm = llama_cpp.Llama(**kwargs, verbose=True)
    llm.verbose = False  # and no per-request prints
    return llm


@functools.cache
def has_amx() -> bool:
    """This llama.cpp was built with AMX kernels (it was built for this CPU, which has AMX)."""
    return b"AMX_INT8 = 1" in llama_cpp.llama_print_system_info()


_defaults_lock = threading.Lock()  # the patched default is process-wide while a model loads


@contextlib.contextmanager
def amx_safe_loading() -> Iterator[None]:
    """Models loaded inside keep out of the AMX buffers where llama.cpp has them. `Llama` takes
    its model parameters from `llama_model_default_params()` and has no argument for
    `use_extra_bufts`, so the default itself is replaced meanwhile."""
    if not has_amx():
        yield
        return
    bindings = llama_cpp.llama_cpp
    original = bindings.llama_model_default_params

    def without_extra_buffers() -> llama_cpp.llama_model_params:
        params = original()
        params.use_extra_bufts = False
        return params

    with _defaults_lock:
        bindings.llama_model_default_params = without_extra_buffers
        try:
            yield
        finally:
            bindings.llama_model_default_params = original


def cached_prefix(llm: llama_cpp.Llama, tokens: npt.ArrayLike) -> int:
    """How many leading `tokens` `llm`'s KV cache already holds (vectorised: every request)."""
    cached, tokens = llm.input_ids[: llm.n_tokens], np.asarray(tokens)
    size = min(len(cached), len(tokens))
    differs = np.flatnonzero(cached[:size] != tokens[:size])
    return int(differs[0]) if differs.size else size
