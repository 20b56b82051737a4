"""`pysparse inspect`: what is in a GGUF file: format, architecture and key hyperparameters, tokenizer summary,
tensors per type (count and bytes), every metadata key (arrays summarised), and with --tensors the whole table."""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

HELP = "show what is in a GGUF file (a path, or a registry model name; default smollm2-135m)"

# Architecture hyperparameters worth a line each: (label, key without the "<arch>." prefix).
HYPERPARAMETERS = [
    ("layers", "block_count"),
    ("embedding", "embedding_length"),
    ("ffn", "feed_forward_length"),
    ("heads", "attention.head_count"),
    ("kv heads", "attention.head_count_kv"),
    ("head dim (k)", "attention.key_length"),
    ("head dim (v)", "attention.value_length"),
    ("context", "context_length"),
    ("rope base", "rope.freq_base"),
    ("rope dims", "rope.dimension_count"),
    ("rms norm eps", "attention.layer_norm_rms_epsilon"),
    ("norm eps", "attention.layer_norm_epsilon"),
    ("sliding window", "attention.sliding_window"),
    ("experts", "expert_count"),
    ("experts used", "expert_used_count"),
    ("vocab", "vocab_size"),
]
SPECIAL_TOKENS = ["bos", "eos", "unknown", "padding", "eot", "sep", "mask"]
ARRAY_HEAD = 5  # items shown when summarising an array


def register(parser: argparse.ArgumentParser) -> None:
    from ..models import DEFAULT_MODEL, MODELS

    parser.add_argument("model", nargs="?", default=DEFAULT_MODEL, metavar="MODEL_OR_PATH",
                        help=f"a .gguf path or a model name ({', '.join(MODELS)}; fetched if needed); "
                             f"default {DEFAULT_MODEL}")
    parser.add_argument("--json", action="store_true", help="print a machine-readable JSON summary")
    parser.add_argument("--tensors", action="store_true", help="also list every tensor (name, type, shape, offset, bytes)")
    parser.add_argument("--keys", metavar="PATTERN",
                        help="only list metadata keys matching this glob, e.g. 'llama.*' or '*rope*'")


def run(args: argparse.Namespace) -> int:
    from ..engine.gguf import GGUFFile
    from ..models import resolve_gguf

    path = resolve_gguf(args.model)
    with GGUFFile(path) as f:
        summary = summarize(f, path, keys=args.keys, with_tensors=args.tensors)
    if args.json:
        json.dump(summary, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_summary(summary)
    return 0


# ---- building the summary (a JSON-able dict) ----------------------------------------------------------------------

def jsonable(v: Any) -> Any:
    """Metadata values -> JSON-able values (numpy scalars and arrays, bytes, non-finite floats)."""
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, np.generic):
        return jsonable(v.item())
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    if isinstance(v, bytes):
        return {"bytes_hex": v.hex()}
    return v


def describe_value(value: Any, type_name: str) -> dict[str, Any]:
    """A metadata value as {type, value} or, for arrays, {type, length, first}."""
    if type_name.startswith("array"):
        return {"type": type_name, "length": len(value), "first": jsonable(list(value[:ARRAY_HEAD]))}
    return {"type": type_name, "value": jsonable(value)}


def tokenizer_summary(md: dict[str, Any]) -> dict[str, Any] | None:
    tokens = md.get("tokenizer.ggml.tokens")
    if tokens is None and "tokenizer.ggml.model" not in md:
        return None
    out: dict[str, Any] = {"model": md.get("tokenizer.ggml.model"), "pre": md.get("tokenizer.ggml.pre"),
                           "vocab_size": len(tokens) if tokens is not None else None}
    merges = md.get("tokenizer.ggml.merges")
    if merges is not None:
        out["merges"] = len(merges)
    token_type = md.get("tokenizer.ggml.token_type")
    if token_type is not None:
        import gguf

        names = {int(t): t.name.lower() for t in gguf.TokenType}
        counts = Counter(int(x) for x in np.asarray(token_type).tolist())
        out["token_types"] = {names.get(k, str(k)): n for k, n in sorted(counts.items())}
    special = {}
    for name in SPECIAL_TOKENS:
        tid = md.get(f"tokenizer.ggml.{name}_token_id")
        if isinstance(tid, int):
            text = tokens[tid] if tokens is not None and 0 <= tid < len(tokens) else None
            special[name] = {"id": tid, "token": jsonable(text)}
    out["special_tokens"] = special
    for flag in ("add_bos_token", "add_eos_token", "add_space_prefix"):
        if f"tokenizer.ggml.{flag}" in md:
            out[flag] = md[f"tokenizer.ggml.{flag}"]
    template = md.get("tokenizer.chat_template")
    out["chat_template_chars"] = len(template) if isinstance(template, str) else None
    return out


def file_type_name(ftype: Any) -> str | None:
    if not isinstance(ftype, int):
        return None
    try:
        import gguf

        return gguf.LlamaFileType(ftype).name.removeprefix("MOSTLY_")
    except (ImportError, ValueError):
        return None


def summarize(f, path: Path, keys: str | None = None, with_tensors: bool = False) -> dict[str, Any]:
    md = f.metadata
    types = f.metadata_types()
    arch = f.architecture
    hyper = {}
    if arch:
        for label, key in HYPERPARAMETERS:
            if f"{arch}.{key}" in md:
                v = md[f"{arch}.{key}"]
                hyper[key] = jsonable(list(v) if isinstance(v, np.ndarray) else v)  # per-layer values are arrays

    per_type: dict[str, dict[str, Any]] = {}
    n_params = 0
    tensors = []
    for t in f.tensors.values():
        entry = per_type.setdefault(t.type, {"count": 0, "bytes": 0, "elements": 0})
        entry["count"] += 1
        entry["elements"] += t.n_elements
        n_params += t.n_elements
        if t.type_known:
            entry["bytes"] += t.nbytes
        else:
            entry["bytes"] = None
        if with_tensors:
            tensors.append({"name": t.name, "type": t.type, "shape": list(t.shape), "offset": t.offset,
                            "nbytes": t.nbytes if t.type_known else None})

    listed = [k for k in md if keys is None or fnmatch.fnmatchcase(k, keys)]
    out: dict[str, Any] = {
        "path": str(path),
        "file_size": f.file_size,
        "version": f.version,
        "alignment": f.alignment,
        "data_offset": f.data_offset,
        "architecture": arch,
        "name": md.get("general.name"),
        "file_type": file_type_name(md.get("general.file_type")),
        "n_parameters": n_params,
        "n_metadata": len(md),
        "n_tensors": len(f.tensors),
        "hyperparameters": hyper,
        "tokenizer": tokenizer_summary(md),
        "tensor_types": dict(sorted(per_type.items(), key=lambda kv: -(kv[1]["bytes"] or 0))),
        "metadata": {k: describe_value(md[k], types[k]) for k in listed},
    }
    if keys is not None:
        out["keys_pattern"] = keys
    if with_tensors:
        out["tensors"] = tensors
    return out


# ---- printing -------------------------------------------------------------------------------------------------------

def human_bytes(n: int | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def short(v: Any, width: int = 70) -> str:
    if isinstance(v, float) and math.isfinite(v) and float(np.float32(v)) == v:
        s = f"{v:.7g}"  # a float32 value: 7 digits round-trip it (1e-05, not 9.999999747378752e-06)
    elif isinstance(v, (int, float)) and not isinstance(v, bool):
        s = repr(v)
    else:
        s = json.dumps(v, ensure_ascii=False)
    s = s.replace("\n", "\\n")
    return s if len(s) <= width else s[: width - 3] + "..."


def print_summary(s: dict[str, Any]) -> None:
    p = print
    p(f"file          {s['path']} ({human_bytes(s['file_size'])})")
    p(f"format        GGUF v{s['version']}, alignment {s['alignment']}, {s['n_metadata']} metadata keys, "
      f"{s['n_tensors']} tensors, data at byte {s['data_offset']:,}")
    desc = ", ".join(x for x in [s["architecture"], s["file_type"], f"{s['n_parameters'] / 1e6:,.1f}M parameters"] if x)
    p(f"model         {s['name'] or '(no general.name)'} ({desc})")
    if s["hyperparameters"]:
        p("hyperparameters")
        labels = dict((k, label) for label, k in HYPERPARAMETERS)
        for k, v in s["hyperparameters"].items():
            p(f"  {labels[k]:<15} {short(v)}   ({s['architecture']}.{k})")
    tok = s["tokenizer"]
    if tok:
        line = f"tokenizer     {tok['model']}"
        if tok.get("pre"):
            line += f" (pre-tokenizer {tok['pre']})"
        if tok["vocab_size"] is not None:
            line += f", {tok['vocab_size']:,} tokens"
        if "merges" in tok:
            line += f", {tok['merges']:,} merges"
        p(line)
        if tok.get("token_types"):
            p("  token types   " + ", ".join(f"{k} {n:,}" for k, n in tok["token_types"].items()))
        if tok["special_tokens"]:
            p("  special       " + ", ".join(f"{k} {v['id']} {short(v['token'], 24)}"
                                              for k, v in tok["special_tokens"].items()))
        flags = [f"{k}={tok[k]}" for k in ("add_bos_token", "add_eos_token", "add_space_prefix") if k in tok]
        if tok.get("chat_template_chars"):
            flags.append(f"chat template ({tok['chat_template_chars']:,} chars)")
        if flags:
            p("  " + ", ".join(flags))
    p("tensors by type")
    total_bytes = sum(t["bytes"] or 0 for t in s["tensor_types"].values())
    p(f"  {'type':<12} {'count':>6} {'elements':>14} {'bytes':>12} {'share':>6}")
    for name, t in s["tensor_types"].items():
        share = f"{100 * t['bytes'] / total_bytes:5.1f}%" if t["bytes"] is not None and total_bytes else "     ?"
        p(f"  {name:<12} {t['count']:>6} {t['elements']:>14,} {human_bytes(t['bytes']):>12} {share:>6}")
    p(f"  {'total':<12} {s['n_tensors']:>6} {s['n_parameters']:>14,} {human_bytes(total_bytes):>12}")
    title = f"metadata matching {s['keys_pattern']!r}" if "keys_pattern" in s else "metadata"
    p(f"{title} ({len(s['metadata'])} keys)")
    width = max((len(k) for k in s["metadata"]), default=0)
    for k, d in s["metadata"].items():
        if "length" in d:
            val = f"[{d['length']:,} items] " + short(d["first"], 60)
        else:
            val = short(d["value"])
        p(f"  {k:<{width}}  {d['type']:<14} {val}")
    if "tensors" in s:
        p("tensors")
        nw = max((len(t["name"]) for t in s["tensors"]), default=4)
        p(f"  {'#':>4}  {'name':<{nw}}  {'type':<8} {'shape':<18} {'offset':>14} {'bytes':>12}")
        for i, t in enumerate(s["tensors"]):
            shape = "x".join(str(d) for d in t["shape"]) or "()"
            nbytes = f"{t['nbytes']:,}" if t["nbytes"] is not None else "?"
            p(f"  {i:>4}  {t['name']:<{nw}}  {t['type']:<8} {shape:<18} {t['offset']:>14,} {nbytes:>12}")
