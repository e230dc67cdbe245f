"""Loading off llama.cpp's AMX kernels, which crash on CPUs with AMX (llama.cpp issue 20824)."""

from __future__ import annotations

import llama_cpp

from ghostwright.indexer import llama_native


def test_where_llama_cpp_has_amx_models_load_without_extra_buffers(monkeypatch):
    monkeypatch.setattr(llama_native, "has_amx", lambda: True)
    with llama_native.amx_safe_loading():
        assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is False
    assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True  # restored


def test_elsewhere_llama_cpp_keeps_its_defaults(monkeypatch):
    monkeypatch.setattr(llama_native, "has_amx", lambda: False)
    with llama_native.amx_safe_loading():
        assert llama_cpp.llama_cpp.llama_model_default_params().use_extra_bufts is True
