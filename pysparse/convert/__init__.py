"""Hugging Face checkpoints to GGUF, as llama.cpp's converter and llama-quantize would write them.

    from pysparse.convert import convert
    convert("path/to/hf_dir", "model.gguf", "Q4_K_M")

Modules: checkpoint (lazy shard reading), arch + one module per architecture (llama, qwen2, qwen3, gemma3: names,
metadata, tensor changes), tokenizer (BPE / SentencePiece vocabularies), types (per-tensor type choice of each
preset), converter (plan, then stream to OUT.tmp and rename).
"""

from .arch import supported as supported_architectures  # noqa: F401
from .converter import Plan, convert, encode, plan  # noqa: F401
from .types import PRESETS  # noqa: F401
