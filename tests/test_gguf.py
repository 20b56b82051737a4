"""The GGUF reader against gguf-py (gguf.GGUFReader / GGUFWriter), an implementation outside our code.

Real files: every metadata key and value, every tensor's name, type, shape, offset, size and raw bytes of
SmolLM2-135M (and, with --runslow, the other three real models). Synthetic files written by gguf.GGUFWriter:
every value type, nested arrays, v2 and v3, custom alignment, plain and quantised tensors.
"""

from __future__ import annotations

import gc
import math
import os
import pathlib

import gguf
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT
from gguf import GGUFValueType as VT

from pysparse.engine import GGUFError, GGUFFile

# ---- a small file exercising every feature, written by gguf-py ---------------------------------------------------

# (key, value, value type, array element type or None); expected Python values are the literals themselves.
SCALARS = [
    ("test.u8", 200, VT.UINT8), ("test.i8", -100, VT.INT8), ("test.u16", 60000, VT.UINT16),
    ("test.i16", -30000, VT.INT16), ("test.u32", 4_000_000_000, VT.UINT32), ("test.i32", -2_000_000_000, VT.INT32),
    ("test.f32", 1.5, VT.FLOAT32), ("test.u64", 2**64 - 1, VT.UINT64), ("test.i64", -(2**63), VT.INT64),
    ("test.f64", math.pi, VT.FLOAT64), ("test.true", True, VT.BOOL), ("test.false", False, VT.BOOL),
    ("test.str", "héllo ✓ 日本", VT.STRING), ("test.str_long", "x" * 1000, VT.STRING),
    ("test.str_empty", "", VT.STRING),
]
TYPED_ARRAYS = [  # (key, values, element type, numpy dtype)
    ("test.arr_u8", [0, 1, 255], VT.UINT8, np.uint8), ("test.arr_i8", [-128, 0, 127], VT.INT8, np.int8),
    ("test.arr_u16", [0, 65535], VT.UINT16, np.uint16), ("test.arr_i16", [-32768, 32767], VT.INT16, np.int16),
    ("test.arr_u32", [0, 2**32 - 1], VT.UINT32, np.uint32), ("test.arr_i32", [-(2**31), 2**31 - 1], VT.INT32, np.int32),
    ("test.arr_u64", [0, 2**64 - 1], VT.UINT64, np.uint64), ("test.arr_i64", [-(2**63), 2**63 - 1], VT.INT64, np.int64),
    ("test.arr_f32", [0.5, -2.25, 1e30], VT.FLOAT32, np.float32), ("test.arr_f64", [math.e, -1e300], VT.FLOAT64, np.float64),
    ("test.arr_bool", [True, False, True], VT.BOOL, np.bool_),
]
STRING_ARRAY = ("test.arr_str", ["a", "", "ünïcödé", "<|im_start|>"])
NESTED = [  # GGUFWriter picks inner element types from the Python values (int -> int32, float -> float32)
    ("test.nested_int", [[1, 2, 3], [4], [5, 6]], "array[array[int32]]"),
    ("test.nested_str", [["a", "b"], ["c"]], "array[array[string]]"),
    ("test.nested_deep", [[[1.5], [2.5, 3.5]], [[4.5]]], "array[array[array[float32]]]"),
]


def sample_tensors() -> dict[str, tuple[np.ndarray, QT, tuple[int, ...]]]:
    """name -> (array as written, GGML type, numpy shape of the logical tensor)."""
    rng = np.random.default_rng(0)
    out = {
        "f32.matrix": (rng.standard_normal((3, 5)).astype(np.float32), QT.F32, (3, 5)),
        "f16.vector": (rng.standard_normal(7).astype(np.float16), QT.F16, (7,)),
        "f64.cube": (rng.standard_normal((2, 3, 4)), QT.F64, (2, 3, 4)),
        "i8.t": (np.arange(-5, 5, dtype=np.int8), QT.I8, (10,)),
        "i16.t": (np.arange(6, dtype=np.int16).reshape(2, 3), QT.I16, (2, 3)),
        "i32.t": (np.arange(4, dtype=np.int32), QT.I32, (4,)),
        "i64.4d": (np.arange(16, dtype=np.int64).reshape(1, 2, 2, 4), QT.I64, (1, 2, 2, 4)),
    }
    w = rng.standard_normal((4, 64)).astype(np.float32)
    out["q8_0.matrix"] = (gguf.quants.quantize(w, QT.Q8_0), QT.Q8_0, (4, 64))
    # gguf-py cannot quantise to Q4_K; the reader only needs valid geometry, so random block bytes do
    out["q4_k.matrix"] = (rng.integers(0, 256, (2, 144), dtype=np.uint8), QT.Q4_K, (2, 256))
    return out


def write_sample_gguf(path: os.PathLike | str, alignment: int | None = None, version: int = 3,
                      with_tensors: bool = True) -> pathlib.Path:
    """A small GGUF with every value type, nested arrays and plain and quantised tensors (gguf-py writes v3;
    version=2 patches the version field: v3 only added big-endian files, the little-endian layout is identical)."""
    path = pathlib.Path(path)
    w = gguf.GGUFWriter(str(path), arch="llama")
    if alignment is not None:
        w.add_custom_alignment(alignment)
    for key, value, vt in SCALARS:
        w.add_key_value(key, value, vt)
    for key, values, vt, _ in TYPED_ARRAYS:
        w.add_key_value(key, values, VT.ARRAY, sub_type=vt)
    w.add_array(*STRING_ARRAY)
    for key, values, _ in NESTED:
        w.add_array(key, values)
    if with_tensors:
        for name, (arr, qt, _) in sample_tensors().items():
            if qt in (QT.Q8_0, QT.Q4_K):
                w.add_tensor(name, arr, raw_dtype=qt)
            else:
                w.add_tensor(name, arr)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if version != 3:
        data = bytearray(path.read_bytes())
        data[4:8] = version.to_bytes(4, "little")
        path.write_bytes(bytes(data))
    return path


def to_plain(v):
    """Nested lists / numpy arrays -> nested Python lists (for comparing nested array values)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, list):
        return [to_plain(x) for x in v]
    return v


def flatten(v):
    return [y for x in v for y in flatten(x)] if isinstance(v, list) else [v]


# ---- cross-check against gguf.GGUFReader -------------------------------------------------------------------------

def _type_name(field) -> str:
    """gguf-py's type list for a field, spelled as GGUFFile.metadata_type spells it (non-nested arrays only)."""
    t = [VT(x).name.lower() for x in field.types]
    return t[0] if t[0] != "array" else f"array[{t[-1]}]" if len(t) == 2 else None


def cross_check(path: pathlib.Path, check_bytes: bool = True) -> int:
    """Asserts our reader agrees with gguf.GGUFReader on everything; returns the number of tensors checked."""
    ref = gguf.GGUFReader(path)
    with GGUFFile(path) as f:
        assert f.version == ref.fields["GGUF.version"].contents()
        assert f.alignment == ref.alignment
        assert f.data_offset == ref.data_offset
        assert f.file_size == path.stat().st_size
        keys = [k for k in ref.fields if not k.startswith("GGUF.")]
        md = f.metadata
        assert list(md) == keys == f.keys()
        for key in keys:
            field, ours = ref.fields[key], md[key]
            expect_type = _type_name(field)
            if expect_type is not None:
                assert f.metadata_type(key) == expect_type, key
            theirs = field.contents()
            if isinstance(ours, np.ndarray):
                assert ours.dtype == gguf.GGUFReader.gguf_scalar_to_np[VT(field.types[-1])], key
                assert np.array_equal(ours, np.asarray(theirs, dtype=ours.dtype)), key
            elif field.types[:2] == [VT.ARRAY, VT.ARRAY]:
                assert flatten(to_plain(ours)) == theirs, key  # gguf-py flattens nested arrays
            else:
                assert type(ours) is type(theirs) and ours == theirs, key
        assert f.architecture == md.get("general.architecture")

        assert len(f.tensors) == len(ref.tensors)
        for rt, (name, info) in zip(ref.tensors, f.tensors.items()):
            assert info.name == name == rt.name
            assert info.type == rt.tensor_type.name and info.type_id == int(rt.tensor_type), name
            assert info.ne == tuple(int(x) for x in rt.shape), name
            assert info.shape == tuple(reversed(info.ne))
            assert info.n_elements == rt.n_elements
            assert info.offset == rt.data_offset, name
            assert info.rel_offset == rt.data_offset - ref.data_offset
            assert info.nbytes == rt.n_bytes, name
            raw = f.tensor_bytes(name)
            assert raw.dtype == np.uint8 and raw.shape == (rt.n_bytes,) and not raw.flags.writeable
            if check_bytes:
                assert np.array_equal(raw, np.asarray(rt.data).reshape(-1).view(np.uint8)), name
    return len(ref.tensors)


def test_smollm2_matches_gguf_py(smollm2_path):
    n = cross_check(smollm2_path)
    assert n == 272


def test_smollm2_known_facts(smollm2_path):
    """Facts about the real file that do not come from our reader: the SmolLM2-135M config."""
    with GGUFFile(smollm2_path) as f:
        assert f.version == 3 and f.architecture == "llama" and f.alignment == 32
        md = f.metadata
        assert (md["llama.block_count"], md["llama.embedding_length"], md["llama.feed_forward_length"]) == (30, 576, 1536)
        assert (md["llama.attention.head_count"], md["llama.attention.head_count_kv"]) == (9, 3)
        assert len(md["tokenizer.ggml.tokens"]) == 49152 == f.array_length("tokenizer.ggml.tokens")
        assert md["tokenizer.ggml.tokens"][:3] == ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
        assert f.metadata_type("tokenizer.ggml.token_type") == "array[int32]"
        assert f.metadata_type("llama.rope.freq_base") == "float32"
        down = f.tensors["blk.0.ffn_down.weight"]
        assert down.type == "Q4_1" and down.shape == (576, 1536) and down.ne == (1536, 576)
        assert down.nbytes == 576 * (1536 // 32) * 20
        assert f.tensors["token_embd.weight"].shape == (49152, 576)
        # an F32 norm weight as a typed view equals the floats read from the file at its offset
        norm = f.tensor("blk.0.attn_norm.weight")
        assert norm.dtype == np.float32 and norm.shape == (576,)
        expect = np.fromfile(smollm2_path, dtype="<f4", count=576, offset=f.tensors["blk.0.attn_norm.weight"].offset)
        assert np.array_equal(norm, expect) and np.all(np.isfinite(norm)) and 0.0 < np.abs(norm).mean() < 10


def test_zero_copy_views_outlive_the_file(smollm2_path):
    f = GGUFFile(smollm2_path)
    names = list(f.tensors)
    a, b = f.tensors[names[0]], f.tensors[names[1]]
    va, vb = f.tensor_bytes(a.name), f.tensor_bytes(b.name)
    # both are views into one mapping of the file: addresses differ exactly by the file offsets
    addr = lambda v: v.__array_interface__["data"][0]  # noqa: E731
    assert addr(vb) - addr(va) == b.offset - a.offset
    assert np.shares_memory(va, f.tensor_bytes(a.name))
    assert va.base is not None and not va.flags.owndata
    typed = f.tensor("blk.0.attn_norm.weight")
    assert np.shares_memory(typed, f.tensor_bytes("blk.0.attn_norm.weight"))
    with pytest.raises(ValueError):
        va[0] = 1  # read-only mapping
    with pytest.raises(ValueError):
        va.flags.writeable = True
    with open(smollm2_path, "rb") as fh:
        fh.seek(b.offset)
        expect_b = fh.read(b.nbytes)
        fh.seek(a.offset)
        expect_a_head = fh.read(4096)
    f.close()
    assert f.closed
    with pytest.raises(ValueError, match="closed"):
        f.tensor_bytes(a.name)
    del f
    gc.collect()
    assert vb.tobytes() == expect_b  # the mapping is alive as long as a view is
    assert va[:4096].tobytes() == expect_a_head
    typed_copy = typed.copy()
    del va, vb
    gc.collect()
    assert np.array_equal(typed, typed_copy)


def test_open_accepts_str_and_pathlike_and_bytes(smollm2_path):
    with GGUFFile(str(smollm2_path)) as a, GGUFFile(pathlib.Path(smollm2_path)) as b:
        assert a.data_offset == b.data_offset
        head = pathlib.Path(smollm2_path).read_bytes()[: a.data_offset]
    # a header-only copy parses the same metadata; tensors then run past its end (and say so)
    with pytest.raises(GGUFError, match="past the end of the file"):
        GGUFFile.from_bytes(head)


def test_missing_file_and_missing_names(tmp_path, smollm2_path):
    with pytest.raises(FileNotFoundError):
        GGUFFile(tmp_path / "nope.gguf")
    with pytest.raises(IsADirectoryError):
        GGUFFile(tmp_path)
    with GGUFFile(smollm2_path) as f:
        with pytest.raises(KeyError):
            f.tensor_bytes("no.such.tensor")
        with pytest.raises(KeyError):
            f.tensor("no.such.tensor")
        with pytest.raises(KeyError):
            f.metadata_type("no.such.key")
        assert f.get("no.such.key", 7) == 7
        with pytest.raises(ValueError, match="pysparse.engine.quant"):
            f.tensor("blk.0.ffn_down.weight")


def _rss_file_bytes() -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("RssFile:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def test_opening_maps_but_does_not_read_tensor_data(smollm2_path):
    """Only the header pages are touched: resident file-backed memory grows by about the header, not the file."""
    before = _rss_file_bytes()
    if before is None:
        pytest.skip("no /proc/self/status RssFile on this system")
    f = GGUFFile(smollm2_path)
    _ = f.tensors, f.architecture
    grown = _rss_file_bytes() - before
    assert grown <= f.data_offset + (1 << 20), (grown, f.data_offset)
    assert f.file_size > 20 * (f.data_offset + (1 << 20))  # so the bound above means something
    f.close()


def test_opening_is_fast_and_lazy(smollm2_path):
    """Opening parses the header only: far less than reading the 98 MB file (a loose bound; this is not a benchmark)."""
    import time

    GGUFFile(smollm2_path).close()  # warm the page cache for the header
    t = time.perf_counter()
    for _ in range(5):
        GGUFFile(smollm2_path).close()
    assert (time.perf_counter() - t) / 5 < 0.5


# ---- synthetic files written by gguf-py ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", [2, 3])
@pytest.mark.parametrize("alignment", [None, 1, 64, 4096])
def test_writer_files_every_value_type(tmp_path, version, alignment):
    path = write_sample_gguf(tmp_path / "sample.gguf", alignment=alignment, version=version)
    with GGUFFile(path) as f:
        assert f.version == version
        assert f.alignment == (alignment or 32)
        assert f.data_offset % f.alignment == 0
        md = f.metadata
        assert md["general.architecture"] == "llama" == f.architecture
        for key, value, vt in SCALARS:
            assert f.metadata_type(key) == vt.name.lower()
            if vt == VT.FLOAT32:
                assert md[key] == float(np.float32(value))
            else:
                assert md[key] == value and type(md[key]) is type(value), key
        for key, values, vt, dtype in TYPED_ARRAYS:
            assert f.metadata_type(key) == f"array[{vt.name.lower()}]"
            assert md[key].dtype == dtype and np.array_equal(md[key], np.array(values, dtype=dtype)), key
        assert md[STRING_ARRAY[0]] == STRING_ARRAY[1]
        for key, values, type_name in NESTED:
            assert f.metadata_type(key) == type_name
            assert to_plain(md[key]) == values, key
        for name, (arr, qt, shape) in sample_tensors().items():
            info = f.tensors[name]
            assert info.type == qt.name and info.shape == shape and info.offset % f.alignment == 0, name
            assert info.nbytes == arr.nbytes
            assert f.tensor_bytes(name).tobytes() == arr.tobytes(), name
            if qt not in (QT.Q8_0, QT.Q4_K):
                view = f.tensor(name)
                assert view.dtype == arr.dtype and view.shape == arr.shape and np.array_equal(view, arr), name
    # gguf-py reads the same file the same way (it flattens nested arrays, so those keys are compared above only)
    cross_check(path)


def test_writer_file_without_tensors(tmp_path):
    path = write_sample_gguf(tmp_path / "kv_only.gguf", with_tensors=False)
    with GGUFFile(path) as f:
        assert f.tensors == {} and f.metadata["test.u8"] == 200
    cross_check(path)


def test_from_bytes_equals_file(tmp_path):
    path = write_sample_gguf(tmp_path / "s.gguf")
    a, b = GGUFFile(path), GGUFFile.from_bytes(path.read_bytes())
    assert list(a.metadata) == list(b.metadata)
    assert a.tensors == b.tensors
    for name in a.tensors:
        assert np.array_equal(a.tensor_bytes(name), b.tensor_bytes(name))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
def test_real_models_match_gguf_py(name):
    from conftest import real_model_path

    path = real_model_path(name)
    assert cross_check(path) > 0


# ---- pysparse inspect -----------------------------------------------------------------------------------------------

def test_inspect_json_summarises_smollm2(smollm2_path, capsys):
    import json

    from pysparse.cli import main

    assert main(["inspect", str(smollm2_path), "--json", "--tensors"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (s["version"], s["architecture"], s["alignment"], s["file_type"]) == (3, "llama", 32, "Q4_1")
    hp = s["hyperparameters"]
    assert (hp["block_count"], hp["embedding_length"], hp["feed_forward_length"]) == (30, 576, 1536)
    tok = s["tokenizer"]
    assert (tok["model"], tok["vocab_size"], tok["merges"]) == ("gpt2", 49152, 48900)
    assert tok["special_tokens"]["eos"] == {"id": 2, "token": "<|im_end|>"}
    # per type: 7 quantised matrices and 2 norms per layer, plus the Q8_0 tied embedding and the output norm
    types = s["tensor_types"]
    assert types["Q4_1"]["count"] == 30 * 7 and types["F32"]["count"] == 30 * 2 + 1 and types["Q8_0"]["count"] == 1
    assert sum(t["bytes"] for t in types.values()) == sum(t["nbytes"] for t in s["tensors"])
    assert types["Q8_0"]["bytes"] == 49152 * 576 // 32 * 34
    assert len(s["tensors"]) == s["n_tensors"] == 272
    # arrays are summarised, never dumped
    tokens = s["metadata"]["tokenizer.ggml.tokens"]
    assert tokens["type"] == "array[string]" and tokens["length"] == 49152 and len(tokens["first"]) == 5
    assert s["metadata"]["llama.block_count"] == {"type": "uint32", "value": 30}


def test_inspect_text_and_key_filter(smollm2_path, capsys):
    from pysparse.cli import main

    assert main(["inspect", "smollm2-135m", "--keys", "llama.attention.*"]) == 0  # a registry name works too
    out = capsys.readouterr().out
    assert "GGUF v3" in out and "49,152 tokens" in out and "Q4_1" in out
    assert "metadata matching 'llama.attention.*' (3 keys)" in out
    assert "llama.attention.head_count_kv" in out and "tokenizer.ggml.merges  " not in out
    assert len(out.splitlines()) < 60  # a summary, not a dump of the vocabulary


def test_inspect_reports_bad_files_in_one_line(tmp_path, capsys):
    from pysparse.cli import main

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF\x01\x00\x00\x00" + bytes(32))
    assert main(["inspect", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "version 1 is not supported" in err and "Traceback" not in err
