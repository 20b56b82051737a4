"""Options shared by the engine commands (generate, chat, bench): the model, threads, context, KV and activation
types, sparsity."""

from __future__ import annotations

import argparse


def add_engine_args(p: argparse.ArgumentParser, sparsity_repeat: bool = False) -> None:
    from ..models import DEFAULT_MODEL

    p.add_argument("model", nargs="?", default=DEFAULT_MODEL,
                   help=f"registry name (see `pysparse models list`) or .gguf file (default {DEFAULT_MODEL})")
    p.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    p.add_argument("--context", type=int, default=None,
                   help="context length in tokens (default: min(the model's training context, 4096))")
    p.add_argument("--kv-type", default="f32", choices=["f32", "f16"], help="KV-cache entries (default f32)")
    p.add_argument("--activations", default="q8", choices=["q8", "f32"],
                   help="q8 (default): integer kernels on activations quantised to 8 bits per block, as llama.cpp; "
                        "f32: every product in float32 on the exactly decoded weights (transformers' numbers, "
                        "several times slower; sparsity then skips no work)")
    help_sp = ("FFN sparsity SITE:RULE:VALUE, e.g. input:top_p:0.9 (sites input, intermediate, all_inputs, gate, up; "
               "rules top_p, top_k, max_p, threshold)")
    if sparsity_repeat:
        p.add_argument("--sparsity", action="append", default=[], metavar="SITE:RULE:VALUE",
                       help=help_sp + "; repeat to bench several settings")
    else:
        p.add_argument("--sparsity", default=None, metavar="SITE:RULE:VALUE", help=help_sp)
    p.add_argument("--sparsity-file", default=None, metavar="JSON",
                   help="a per-layer sparsity allocation: {\"site\", \"rule\", \"values\": [one per layer]}")


def parse_sparsity(spec: str) -> tuple[str, str, float]:
    parts = spec.split(":")
    if len(parts) != 3:
        raise ValueError(f"--sparsity {spec!r}: expected SITE:RULE:VALUE, e.g. input:top_p:0.9")
    try:
        value = float(parts[2])
    except ValueError:
        raise ValueError(f"--sparsity {spec!r}: value {parts[2]!r} is not a number") from None
    return parts[0], parts[1], value


def load_engine(args):
    """The engine Model the options describe, sparsity applied (a single --sparsity or --sparsity-file)."""
    from ..engine import Model

    specs = args.sparsity if isinstance(args.sparsity, list) else ([args.sparsity] if args.sparsity else [])
    parsed = [parse_sparsity(s) for s in specs]  # bad specs fail before the model loads
    m = Model.load(args.model, threads=args.threads, context=args.context, kv_type=args.kv_type,
                   activations=args.activations)
    if args.sparsity_file:
        m.load_sparsity(args.sparsity_file)
    elif len(parsed) == 1:
        m.set_sparsity(*parsed[0])
    return m, parsed


def describe_sparsity(m) -> str:
    sp = m.sparsity
    if not sp:
        return "dense"
    vals = {v for v in sp["values"] if v is not None}
    v = f"{vals.pop():g}" if len(vals) == 1 else "per-layer"
    return f"{sp['site']}:{sp['rule']}:{v}"
