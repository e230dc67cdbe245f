"""llama.cpp glue shared by every in-process model (the completion model and the embedder).

Both load through `load_quietly`: llama-cpp-python's `verbose=False` points file descriptors 1 and
2 at /dev/null while it loads, process-wide, and a language server answering on stdout from
another thread would lose those answers. Native logs go to our logger instead.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
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
    """`llama_cpp.Llama(**kwargs)` with its Python-level banner sent to a scratch buffer."""
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        llm = llama_cpp.Llama(**kwargs, verbose=True)
    llm.verbose = False  # and no per-request prints
    return llm


def cached_prefix(llm: llama_cpp.Llama, tokens: npt.ArrayLike) -> int:
    """How many leading `tokens` `llm`'s KV cache already holds (vectorised: every request)."""
    cached, tokens = llm.input_ids[: llm.n_tokens], np.asarray(tokens)
    size = min(len(cached), len(tokens))
    differs = np.flatnonzero(cached[:size] != tokens[:size])
    return int(differs[0]) if differs.size else size
