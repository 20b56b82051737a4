"""`pysparse convert HF_DIR -o OUT.gguf --type T`."""

from __future__ import annotations

HELP = "convert a Hugging Face checkpoint (Llama/Mistral, Qwen2, Qwen3, Gemma3) to GGUF, K-quants included"


def register(p):
    from ..convert.types import PRESETS

    p.add_argument("hf_dir", metavar="HF_DIR", help="checkpoint directory: config.json, *.safetensors or "
                   "pytorch_model*.bin (sharded or not), tokenizer files")
    p.add_argument("-o", "--output", required=True, metavar="OUT.gguf", help="the GGUF file to write (written to "
                   "OUT.gguf.tmp, renamed when complete)")
    p.add_argument("--type", default="F16", choices=list(PRESETS), type=str.upper,
                   help="output type; Q4_0..Q6_K use llama-quantize's per-tensor choices (default: F16)")
    p.add_argument("--force", action="store_true", help="overwrite OUT.gguf if it exists")
    p.add_argument("--tokenizer-pre", metavar="NAME", help="llama.cpp's pre-tokenizer name for a BPE tokenizer "
                   "whose hash it does not recognise (e.g. llama-bpe, qwen2, smollm)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args):
    import time

    from ..convert import convert, plan

    t0 = time.perf_counter()
    pl = plan(args.hf_dir, args.type)  # fail fast, and say what will be written
    counts = ", ".join(f"{n} {k}" for k, n in sorted(pl.type_counts().items()))
    print(f"{pl.arch.arch_name}: {len(pl.tensors)} tensors ({counts}), tokenizer {pl.tokenizer_kind}")
    out = convert(args.hf_dir, args.output, args.type, force=args.force, progress=not args.quiet,
                  tokenizer_pre=args.tokenizer_pre)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    return 0
