"""Loading the models training starts from: the very GGUF the server runs (transformers reads
it) or an HF checkpoint folder, and a peft LoRA over it (fresh, or continuing a saved adapter)."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from ghostwright.server.errors import GhostwrightError


def load_causal_lm(source: str) -> tuple[Any, Any]:
    """(model in fp32, tokenizer) from a model spec the server resolves (`default`, a .gguf) or
    an HF checkpoint folder: for a GGUF, the very file the server loads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ghostwright.server.models import is_gguf_spec, resolve_model

    if is_gguf_spec(source):
        source = str(resolve_model(source))
    path = Path(source).expanduser()
    kwargs: dict[str, Any] = {}
    if path.suffix == ".gguf":
        path, kwargs = path.parent, {"gguf_file": path.name}
    try:
        # transformers draws a bar per GGUF load that no setting turns off; errors still raise.
        with contextlib.redirect_stderr(io.StringIO()):
            tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, **kwargs)
    except (OSError, ValueError) as exc:
        raise GhostwrightError(f"cannot load model weights from {source}: {exc}") from exc
    return model, tokenizer


def load_model(config: dict[str, Any]) -> tuple[Any, Any]:
    """The base model (GGUF through transformers, or an HF folder) wrapped in a peft LoRA."""
    from peft import LoraConfig, get_peft_model

    if config.get("quantize_4bit") and not torch.cuda.is_available():
        raise GhostwrightError("quantize_4bit (QLoRA) needs a CUDA GPU; set quantize_4bit=false")
    model, tokenizer = load_causal_lm(config["model"])
    lora = dict(config["lora"])
    if start := starting_adapter(config):  # its shape wins: the weights must fit
        lora |= adapter_shape(start)
    peft_config = LoraConfig(
        r=lora["rank"],
        lora_alpha=lora["alpha"],
        lora_dropout=lora["dropout"],
        target_modules=lora["targets"],
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config), tokenizer


def load_adapter_weights(model: Any, folder: Path) -> None:
    """Start from a trained adapter (Stage B from Stage A) instead of a fresh LoRA."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    try:
        weights = load_file(str(folder / "adapter_model.safetensors"))
        set_peft_model_state_dict(model, weights)
    except (OSError, RuntimeError) as exc:  # missing, damaged, or another rank or target set
        raise GhostwrightError(f"cannot start from the adapter in {folder}: {exc}") from exc


def starting_adapter(config: dict[str, Any]) -> Path | None:
    """The peft folder `init_adapter` names (None: a fresh LoRA; `none` asks for one)."""
    value = str(config.get("init_adapter") or "")
    return Path(value).expanduser() if value and value != "none" else None


def adapter_shape(folder: Path) -> dict[str, Any]:
    """rank, alpha and targets of a saved peft adapter, as the config's `lora` keys."""
    try:
        saved = json.loads((folder / "adapter_config.json").read_text())
    except (OSError, ValueError) as exc:
        raise GhostwrightError(f"cannot start from the adapter in {folder}: {exc}") from exc
    return {
        "rank": saved["r"],
        "alpha": saved["lora_alpha"],
        "targets": sorted(saved["target_modules"]),
    }
