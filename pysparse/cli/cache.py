"""`pysparse cache list|clear TARGET...`: what the cache holds (with sizes) and removing it."""

from __future__ import annotations

HELP = ("list what the cache holds (models, their dequantised float32 copies, data, fidelity references) with "
        "sizes, or clear some of it")


def register(p):
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.add_parser("list", help="every cached item with its size and path (the default)")
    c = sub.add_parser("clear", help="remove cached items; they are rebuilt on demand")
    c.add_argument("targets", nargs="+", metavar="TARGET",
                   help="hf (the dequantised copies transformers loads fast; the big ones), models (the GGUF "
                        "files), data, refs, all, or a model name (everything of that model)")
    c.add_argument("--dry-run", action="store_true", help="only say what would be removed")


def _mb(n: int) -> str:
    return f"{n / 1e6:,.0f} MB" if n >= 1e6 else f"{n / 1e3:,.0f} kB"


def run(args):
    from .. import cache
    from ..artifacts import cache_dir

    if args.action in (None, "list"):
        ents = cache.entries()
        root = cache_dir("models").parent
        if not ents:
            print(f"the cache at {root} is empty")
            return 0
        w = max(len(e.name) for e in ents)
        print(f"{'kind':6}  {'name':{w}}  {'size':>9}  path")
        for e in ents:
            print(f"{e.kind:6}  {e.name:{w}}  {_mb(e.bytes):>9}  {e.path}")
        hf = sum(e.bytes for e in ents if e.kind == "hf")
        print(f"total {_mb(sum(e.bytes for e in ents))} in {root}"
              + (f"; of it {_mb(hf)} are dequantised copies (`pysparse cache clear hf` removes them; the next "
                 f"load then takes about a minute longer)" if hf else ""))
        return 0
    ents = cache.select(args.targets)
    for e in ents:
        if not args.dry_run:
            cache.remove(e)
        print(f"{'would remove' if args.dry_run else 'removed'} {e.kind} {e.name}: {_mb(e.bytes)} {e.path}")
    if not ents:
        print("nothing to remove")
    return 0
