"""Reading GGUF files: metadata, the tensor table, and zero-copy views of tensor data.

    with GGUFFile("model.gguf") as f:
        f.architecture, f.metadata["llama.block_count"]
        info = f.tensors["blk.0.ffn_down.weight"]     # TensorInfo: type "Q4_K", shape (rows, cols), nbytes, ...
        raw = f.tensor_bytes(info.name)                # uint8 view of the mapped file, no copy
        norm = f.tensor("blk.0.attn_norm.weight")      # F32/F16/... as a typed view in numpy shape

The parsing is C++ (cpp/gguf/): the file is mmap'd read-only, only the header region is read, and every length,
count and offset is checked; a malformed file raises GGUFError (a ValueError) saying what and where.
Views stay valid after the file object is closed or deleted (they keep the mapping alive) and are read-only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core
from .._core import GGUFError

__all__ = ["GGUFFile", "GGUFError", "TensorInfo"]

# Tensor types numpy can view directly (everything else is a block format: see pysparse.engine.quant).
NUMPY_DTYPES = {
    "F32": np.float32, "F16": np.float16, "F64": np.float64,
    "I8": np.int8, "I16": np.int16, "I32": np.int32, "I64": np.int64,
}


@dataclass(frozen=True)
class TensorInfo:
    """One entry of the tensor table.

    shape is numpy order (outermost first: (rows, cols) for a matrix); ne is ggml order (ne[0] = cols).
    offset is absolute (from the start of the file); rel_offset is as stored (from the data section).
    nbytes raises GGUFError for a tensor whose type id this reader does not know.
    """

    name: str
    type: str
    type_id: int
    shape: tuple[int, ...]
    ne: tuple[int, ...]
    offset: int
    rel_offset: int
    n_elements: int
    _nbytes: int | None = field(repr=False)
    _error: str | None = field(repr=False, default=None)

    @property
    def nbytes(self) -> int:
        if self._nbytes is None:
            raise GGUFError(self._error or f"tensor {self.name!r}: unknown byte size")
        return self._nbytes

    @property
    def type_known(self) -> bool:
        return self._nbytes is not None

    def __repr__(self) -> str:
        size = self._nbytes if self._nbytes is not None else "?"
        return (f"TensorInfo(name={self.name!r}, type={self.type!r}, shape={self.shape}, offset={self.offset}, "
                f"nbytes={size})")


class GGUFFile:
    """A GGUF v2/v3 file, mapped read-only. Accepts a str or os.PathLike; usable as a context manager."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(os.fsdecode(os.fspath(path)))
        self._init(_core.GGUFFile(str(self.path)))

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview, name: str = "<bytes>") -> GGUFFile:
        """Parse a GGUF file held in memory (copied once)."""
        self = cls.__new__(cls)
        self.path = None
        self._init(_core.GGUFFile.from_bytes(bytes(data), name))
        return self

    def _init(self, core: Any) -> None:
        self._f = core
        self._metadata: dict[str, Any] | None = None
        self._tensors: dict[str, TensorInfo] | None = None

    # -- lifetime --
    def close(self) -> None:
        """Drop this object's reference to the mapping; arrays returned earlier stay valid."""
        self._f = None
        self._metadata = self._tensors = None

    @property
    def closed(self) -> bool:
        return self._f is None

    def __enter__(self) -> GGUFFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _core(self) -> Any:
        if self._f is None:
            raise ValueError("GGUF file is closed")
        return self._f

    # -- header --
    @property
    def version(self) -> int:
        return self._core.version

    @property
    def alignment(self) -> int:
        return self._core.alignment

    @property
    def data_offset(self) -> int:
        """Absolute byte offset of the tensor data section."""
        return self._core.data_offset

    @property
    def file_size(self) -> int:
        return self._core.file_size

    @property
    def architecture(self) -> str | None:
        """general.architecture, or None if the file has none."""
        v = self.get("general.architecture")
        return v if isinstance(v, str) else None

    # -- metadata --
    @property
    def metadata(self) -> dict[str, Any]:
        """Every key -> value in file order: int, float, bool, str, numpy arrays for numeric arrays,
        lists of str for string arrays, lists for nested arrays. A string that is not valid UTF-8 is returned
        as bytes. Converted on first access (tokenizer vocabularies are large) and cached."""
        if self._metadata is None:
            self._metadata = self._core.metadata()
        return self._metadata

    def keys(self) -> list[str]:
        return self._core.metadata_keys()

    def get(self, key: str, default: Any = None) -> Any:
        """One metadata value (converting only that value), or default if absent."""
        if self._metadata is not None:
            return self._metadata.get(key, default)
        try:
            return self._core.metadata_value(key)
        except KeyError:
            return default

    def metadata_type(self, key: str) -> str:
        """The type the file stores: 'uint32', 'float32', 'string', 'array[string]', 'array[array[int32]]', ..."""
        return self._core.metadata_type(key)

    def metadata_types(self) -> dict[str, str]:
        return self._core.metadata_types()

    def array_length(self, key: str) -> int:
        """Length of an array value, without converting it."""
        return self._core.array_length(key)

    # -- tensors --
    @property
    def tensors(self) -> dict[str, TensorInfo]:
        """name -> TensorInfo, in the file's table order."""
        if self._tensors is None:
            out: dict[str, TensorInfo] = {}
            for (name, type_id, type_name, ne, abs_off, rel_off, nbytes, n_el, _info_off,
                 error) in self._core.tensor_infos():
                out[name] = TensorInfo(
                    name=name, type=type_name if type_name is not None else f"UNKNOWN({type_id})",
                    type_id=type_id, shape=tuple(reversed(ne)), ne=tuple(ne), offset=abs_off, rel_offset=rel_off,
                    n_elements=n_el, _nbytes=nbytes, _error=error)
            self._tensors = out
        return self._tensors

    def tensor_bytes(self, name: str) -> np.ndarray:
        """The tensor's raw bytes as a read-only uint8 array viewing the mapped file (no copy).
        KeyError if there is no such tensor; GGUFError if its type is unknown."""
        return self._core.tensor_bytes(name)

    def tensor(self, name: str) -> np.ndarray:
        """A plain tensor (F32, F16, F64, I8..I64) as a read-only typed view in numpy shape (no copy).
        Quantised types (Q4_K, Q8_0, BF16, ...) raise ValueError: decode them with pysparse.engine.quant."""
        info = self.tensors[name] if name in self.tensors else None
        if info is None:
            raise KeyError(name)
        if not info.type_known:
            info.nbytes  # raises GGUFError naming the tensor and its unknown type id
        dtype = NUMPY_DTYPES.get(info.type)
        if dtype is None:
            raise ValueError(f"tensor {name!r} is {info.type}, which has no numpy dtype; decode it with "
                             f"pysparse.engine.quant (dequantize) or read its raw bytes with tensor_bytes()")
        return self.tensor_bytes(name).view(dtype).reshape(info.shape)

    def __repr__(self) -> str:
        where = str(self.path) if self.path is not None else "<bytes>"
        if self.closed:
            return f"GGUFFile({where!r}, closed)"
        return (f"GGUFFile({where!r}, v{self.version}, arch={self.architecture!r}, "
                f"{len(self.keys())} keys, {self._core.n_tensors} tensors)")
