"""What pysparse keeps in its cache, and removing it (`pysparse cache list|clear`).

The cache ($PYSPARSE_CACHE, else $XDG_CACHE_HOME/pysparse, else ~/.cache/pysparse) holds:
  models/<name>/<file>.gguf   registry models as downloaded (sha256-verified)
  models/<name>/hf-<dtype>/   the dequantised copy transformers loads in seconds instead of a minute
                              (float32: about 5x the GGUF, e.g. 517 MB for SmolLM2-135M's 98 MB file)
  data/                       evaluation datasets
  refs/<model>/               the dense model's next-token references of the fidelity tasks
Everything is rebuilt on demand, so removing any of it costs only time.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from .artifacts import cache_dir

KINDS = ("models", "hf", "data", "refs")


@dataclass(frozen=True)
class Entry:
    kind: str      # one of KINDS
    name: str      # model name (models, hf, refs) or dataset source (data)
    path: Path
    bytes: int


def _size(p: Path) -> int:
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())


def entries() -> list[Entry]:
    """Every cached item, largest kinds first within a model."""
    root = cache_dir("models").parent
    out = []
    models = root / "models"
    for d in sorted(x for x in models.iterdir() if x.is_dir()) if models.exists() else []:
        for f in sorted(d.iterdir()):
            if f.name.startswith("."):  # a download or conversion in progress
                continue
            if f.suffix == ".gguf":
                out.append(Entry("models", d.name, f, _size(f)))
            elif f.is_dir() and f.name.startswith("hf-"):
                out.append(Entry("hf", d.name, f, _size(f)))
    for kind in ("data", "refs"):
        base = root / kind
        for d in sorted(x for x in base.iterdir() if x.is_dir()) if base.exists() else []:
            out.append(Entry(kind, d.name, d, _size(d)))
    return out


def select(targets: list[str]) -> list[Entry]:
    """Entries matching targets: a kind (models, hf, data, refs), 'all', or a name (every kind of that name)."""
    if not targets:
        raise ValueError(f"say what to clear: {', '.join(KINDS)}, all, or a model name")
    ents = entries()
    names = {e.name for e in ents}
    picked = []
    for t in targets:
        if t == "all":
            picked += ents
        elif t in KINDS:
            picked += [e for e in ents if e.kind == t]
        elif t in names:
            picked += [e for e in ents if e.name == t]
        else:
            raise ValueError(f"nothing cached under {t!r}; targets: {', '.join(KINDS)}, all, or one of "
                             f"{', '.join(sorted(names)) or '(the cache is empty)'}")
    seen, out = set(), []
    for e in picked:
        if e.path not in seen:
            seen.add(e.path)
            out.append(e)
    return out


def remove(entry: Entry) -> None:
    if entry.path.is_dir():
        shutil.rmtree(entry.path)
    else:
        entry.path.unlink()
