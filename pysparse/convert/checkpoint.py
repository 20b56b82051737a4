"""A Hugging Face checkpoint directory read lazily: config, the tensor index across shards, one tensor at a time.

Safetensors shards are opened with `safe_open` (only the header is read until a tensor is asked for); PyTorch
`.bin` shards are loaded with `torch.load(mmap=True)`, which maps the file instead of reading it. Either way the
converter holds one tensor in float32 at a time, never the whole model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np


@dataclass(frozen=True)
class TensorRef:
    name: str           # the checkpoint's name, e.g. model.layers.0.self_attn.q_proj.weight
    shape: tuple[int, ...]
    shard: Path


class Checkpoint:
    """config.json + the weight shards of an HF model directory. Raises FileNotFoundError / ValueError up front
    (missing config, index naming a missing shard, no weights at all) before any tensor is read."""

    def __init__(self, path: str | Path):
        self.dir = Path(path)
        if not self.dir.is_dir():
            raise FileNotFoundError(f"{self.dir}: not a directory (expected a Hugging Face checkpoint directory)")
        cfg = self.dir / "config.json"
        if not cfg.is_file():
            raise FileNotFoundError(f"{cfg} not found: a Hugging Face checkpoint needs its config.json")
        self.config: dict = json.loads(cfg.read_text(encoding="utf-8"))
        self.shards = self._find_shards()
        self.tensors: dict[str, TensorRef] = self._index()

    def _find_shards(self) -> list[Path]:
        for index_name, pattern in (("model.safetensors.index.json", "model.safetensors"),
                                    ("pytorch_model.bin.index.json", "pytorch_model.bin")):
            index = self.dir / index_name
            if index.is_file():
                weight_map = json.loads(index.read_text(encoding="utf-8")).get("weight_map", {})
                shards = sorted({self.dir / f for f in weight_map.values()})
                missing = [s.name for s in shards if not s.is_file()]
                if missing:
                    raise FileNotFoundError(f"{index_name} names shard(s) not in {self.dir}: {', '.join(missing)}")
                return shards
            single = self.dir / pattern
            if single.is_file():
                return [single]
        found = sorted(self.dir.glob("*.safetensors")) or sorted(self.dir.glob("*.bin"))
        if not found:
            raise FileNotFoundError(f"no weights in {self.dir}: expected model.safetensors, model-0000x-of-0000y."
                                    "safetensors with its index, or pytorch_model*.bin")
        return found

    def _index(self) -> dict[str, TensorRef]:
        refs: dict[str, TensorRef] = {}
        for shard in self.shards:
            if shard.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(shard), framework="pt") as f:
                    for name in f.keys():
                        refs[name] = TensorRef(name, tuple(f.get_slice(name).get_shape()), shard)
            else:
                for name, t in _torch_shard(shard).items():
                    refs[name] = TensorRef(name, tuple(t.shape), shard)
        return refs

    def load(self, names: list[str]) -> Iterator[tuple[str, np.ndarray]]:
        """Yields (name, float32 array) for `names` in order, opening each shard once per run of its tensors."""
        import torch

        open_shard, handle = None, None
        for name in names:
            ref = self.tensors[name]
            if ref.shard != open_shard:
                handle = None  # drop the previous shard's mapping before opening the next
                if ref.shard.suffix == ".safetensors":
                    from safetensors import safe_open

                    handle = safe_open(str(ref.shard), framework="pt")
                else:
                    handle = _torch_shard(ref.shard)
                open_shard = ref.shard
            t = handle.get_tensor(name) if ref.shard.suffix == ".safetensors" else handle[name]
            yield name, t.to(torch.float32).numpy()


def _torch_shard(path: Path) -> dict:
    import torch

    try:
        return torch.load(str(path), map_location="cpu", mmap=True, weights_only=True)
    except Exception as e:  # a truncated or foreign file: say which
        raise ValueError(f"{path}: cannot read as a PyTorch checkpoint shard ({e})") from None
