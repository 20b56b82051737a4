"""Bad GGUF input: every malformed file must raise GGUFError (a ValueError) with a message saying what is wrong,
never crash, hang or read out of bounds.

Files are derived from valid ones (a small file written by gguf.GGUFWriter, and the real SmolLM2 header) by
truncation, by patching single fields (magic, version, counts, lengths, shapes, offsets, type ids) and by seeded
random mutation. Field positions come from gguf-py's reader, not from ours. A sample runs in a subprocess through
the mmap path, so that a segfault fails the test instead of killing pytest.
"""

from __future__ import annotations

import os
import random
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import gguf
import numpy as np
import pytest

from pysparse.engine import GGUFError, GGUFFile

sys.path.insert(0, str(Path(__file__).parent))
from test_gguf import write_sample_gguf  # noqa: E402


# ---- helpers ----------------------------------------------------------------------------------------------------

def touch_everything(f: GGUFFile) -> None:
    """What a consumer may do with a file that parsed: read all metadata, all tensor infos and bytes."""
    _ = f.metadata, f.architecture, f.version, f.alignment, f.data_offset
    for name, info in f.tensors.items():
        try:
            raw = f.tensor_bytes(name)
        except GGUFError as e:  # only for an unknown type id, and it must say so
            assert not info.type_known and "unknown GGML type id" in str(e)
            continue
        assert raw.shape == (info.nbytes,)
        if info.nbytes:
            int(raw[0]) + int(raw[-1])


def outcome(data: bytes) -> str:
    """'ok' if the bytes parse (and can be read end to end), else the GGUFError message. Anything else propagates."""
    try:
        f = GGUFFile.from_bytes(data, "bad.gguf")
    except GGUFError as e:
        msg = str(e)
        assert msg.startswith("bad.gguf: ") and len(msg) > 20, msg
        return msg
    touch_everything(f)
    return "ok"


def rejected(data: bytes, *fragments: str) -> str:
    msg = outcome(data)
    assert msg != "ok", "malformed file was accepted"
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in {msg!r}"
    return msg


def patched(data: bytes, offset: int, fmt: str, value) -> bytes:
    out = bytearray(data)
    struct.pack_into("<" + fmt, out, offset, value)
    return bytes(out)


class Layout:
    """Byte positions of the fields of a valid GGUF file, found by a minimal walker written here from the GGUF spec
    (independent of the C++ reader; cross-checked against gguf-py on the small file in test_layout_walker)."""

    SCALAR_SIZE = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 8
        n_tensors, n_kv = self._u64(), self._u64()
        self.keys: dict[str, int] = {}
        for _ in range(n_kv):
            start = self.pos
            key = self._str()
            self.keys[key] = start
            self._skip_value(self._u32())
        self.tensors: dict[str, dict[str, int]] = {}
        for _ in range(n_tensors):
            start = self.pos
            name = self._str()
            n_dims_at = self.pos
            n_dims = self._u32()
            ne_at = self.pos
            self.pos += 8 * n_dims
            type_at = self.pos
            self.pos += 4 + 8
            self.tensors[name] = {"start": start, "n_dims_at": n_dims_at, "ne_at": ne_at, "type_at": type_at,
                                  "offset_at": type_at + 4, "n_dims": n_dims}
        self.end_of_table = self.pos

    def _u32(self) -> int:
        self.pos += 4
        return struct.unpack_from("<I", self.data, self.pos - 4)[0]

    def _u64(self) -> int:
        self.pos += 8
        return struct.unpack_from("<Q", self.data, self.pos - 8)[0]

    def _str(self) -> str:
        n = self._u64()
        self.pos += n
        return self.data[self.pos - n:self.pos].decode()

    def _skip_value(self, vtype: int) -> None:
        if vtype == 8:
            n = self._u64()
            self.pos += n
        elif vtype == 9:
            elem, count = self._u32(), self._u64()
            if elem in self.SCALAR_SIZE:
                self.pos += count * self.SCALAR_SIZE[elem]
            else:
                for _ in range(count):
                    self._skip_value(elem)
        else:
            self.pos += self.SCALAR_SIZE[vtype]

    def value_at(self, key: str) -> int:
        """Offset of the value of `key` (after its key string and type)."""
        return self.keys[key] + 8 + len(key.encode()) + 4


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> tuple[bytes, Layout]:
    data = write_sample_gguf(tmp_path_factory.mktemp("gguf") / "small.gguf").read_bytes()
    return data, Layout(data)


@pytest.fixture(scope="module")
def smol_header(smollm2_path) -> tuple[bytes, Layout]:
    """The real SmolLM2 header region (metadata + tensor table), and its layout."""
    with open(smollm2_path, "rb") as fh:
        head = fh.read(2 * 1024 * 1024)  # the SmolLM2 header is 1.7 MB
    layout = Layout(head)
    return head[: layout.end_of_table], layout


def test_layout_walker(small, tmp_path):
    """The test's own walker finds the fields where gguf-py does."""
    data, lay = small
    path = tmp_path / "s.gguf"
    path.write_bytes(data)
    ref = gguf.GGUFReader(path)
    assert lay.keys == {k: f.offset for k, f in ref.fields.items() if not k.startswith("GGUF.")}
    assert {n: t["start"] for n, t in lay.tensors.items()} == {t.name: t.field.offset for t in ref.tensors}


# ---- header -----------------------------------------------------------------------------------------------------

def test_valid_inputs_parse(small, smol_header):
    assert outcome(small[0]) == "ok"
    # the real header alone has no tensor data: rejected, naming the first tensor
    rejected(smol_header[0], "tensor 'token_embd.weight'", "past the end of the file")


def test_bad_magic_and_empty(small, tmp_path):
    data = small[0]
    rejected(b"GGML" + data[4:], "not a GGUF file", "magic is 'GGML'", "byte offset 0")
    rejected(b"\x00" * 64, "not a GGUF file", "magic is '\\x00\\x00\\x00\\x00'")
    rejected(b"", "not a GGUF file")
    rejected(b"GGU", "not a GGUF file")
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(GGUFError, match="empty file"):
        GGUFFile(empty)
    text = tmp_path / "notes.txt"
    text.write_text("hello, I am not a model\n")
    with pytest.raises(GGUFError, match="magic is 'hell'"):
        GGUFFile(text)


@pytest.mark.parametrize("version, fragment", [
    (0, "unsupported GGUF version 0"), (1, "version 1 is not supported"), (4, "unsupported GGUF version 4"),
    (0xFFFFFFFF, "unsupported GGUF version 4294967295"), (0x03000000, "big-endian"),
])
def test_bad_versions(small, version, fragment):
    rejected(patched(small[0], 4, "I", version), fragment, "byte offset 4")


def test_big_endian_file_from_gguf_py(tmp_path):
    w = gguf.GGUFWriter(str(tmp_path / "be.gguf"), arch="llama", endianess=gguf.GGUFEndian.BIG)
    w.add_uint32("llama.block_count", 2)
    w.add_tensor("t", np.ones(4, dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    assert gguf.GGUFReader(tmp_path / "be.gguf").endianess == gguf.GGUFEndian.BIG  # gguf-py agrees it is big-endian
    with pytest.raises(GGUFError, match="big-endian GGUF file .* only little-endian"):
        GGUFFile(tmp_path / "be.gguf")


@pytest.mark.parametrize("field_at, name", [(8, "tensor count"), (16, "metadata count")])
@pytest.mark.parametrize("count", [10**18, 2**63, 2**64 - 1, 10**6])
def test_absurd_header_counts(small, smol_header, field_at, name, count):
    for data in (small[0], smol_header[0]):
        rejected(patched(data, field_at, "Q", count), name, "is impossible", f"byte offset {field_at}")


# ---- metadata -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [2**63, 2**64 - 1, 10**12, 100_000_000])
def test_absurd_string_lengths(small, smol_header, length):
    data, lay = small
    first = lay.keys["general.architecture"]
    rejected(patched(data, first, "Q", length), "metadata entry 0", f"has length {length}", f"byte offset {first}")
    rejected(patched(data, lay.value_at("test.str"), "Q", length), "metadata key 'test.str'", "string value")
    data, lay = smol_header
    rejected(patched(data, lay.value_at("general.name"), "Q", length), "'general.name'", f"length {length}")
    # a string inside the 49152-token vocabulary array
    tokens_at = lay.value_at("tokenizer.ggml.tokens") + 4 + 8
    rejected(patched(data, tokens_at, "Q", length), "'tokenizer.ggml.tokens'", "string array element")


@pytest.mark.parametrize("count", [10**18, 2**64 - 1, 2**32, 49153 * 1000])
def test_absurd_array_counts(small, smol_header, count):
    data, lay = smol_header
    at = lay.value_at("tokenizer.ggml.tokens") + 4
    rejected(patched(data, at, "Q", count), "'tokenizer.ggml.tokens'", f"array of {count} string elements",
             f"byte offset {at}")
    at = lay.value_at("tokenizer.ggml.token_type") + 4
    rejected(patched(data, at, "Q", count), "'tokenizer.ggml.token_type'", "int32 elements needs at least")
    data, lay = small
    at = lay.value_at("test.nested_int") + 4
    rejected(patched(data, at, "Q", count), "'test.nested_int'", "array elements needs at least")


def test_bad_value_types_and_bools(small):
    data, lay = small
    type_at = lay.keys["test.u8"] + 8 + len("test.u8")
    rejected(patched(data, type_at, "I", 13), "'test.u8'", "unknown value type 13")
    rejected(patched(data, type_at, "I", 2**31), "unknown value type 2147483648")
    rejected(patched(data, lay.value_at("test.arr_u8"), "I", 99), "'test.arr_u8'", "unknown array element type 99")
    rejected(patched(data, lay.value_at("test.true"), "B", 2), "'test.true'", "bool value is 2")
    rejected(patched(data, lay.value_at("test.arr_bool") + 12, "B", 255), "'test.arr_bool'", "bool element 0 is 255")


def test_duplicate_key_and_bad_alignment(small, tmp_path):
    data, lay = small
    dup = data.replace(b"test.i8", b"test.u8", 1)
    rejected(dup, "'test.u8'", "duplicate metadata key")
    for bad in (0, 3, 48, 2**31 + 1):
        aligned = write_sample_gguf(tmp_path / "al.gguf", alignment=64).read_bytes()
        at = Layout(aligned).value_at("general.alignment")
        rejected(patched(aligned, at, "I", bad), "'general.alignment'", f"alignment {bad} is not a power of two")


def test_invalid_utf8_key_is_reported_not_decoded(small):
    data, lay = small
    at = lay.keys["test.u8"] + 8
    msg = rejected(patched(data, at, "B", 0xFF), "is not valid UTF-8", "\\xff")
    msg.encode("utf-8")  # the message itself is clean text


def test_invalid_utf8_string_value_is_returned_as_bytes(small):
    """A string VALUE that is not UTF-8 (a tokenizer byte token, say) is not a reason to reject the model."""
    data, lay = small
    at = lay.value_at("test.str") + 8
    f = GGUFFile.from_bytes(patched(data, at, "B", 0xFF))
    value = f.metadata["test.str"]
    assert isinstance(value, bytes) and value[:1] == b"\xff"


# ---- tensor table -------------------------------------------------------------------------------------------------

def test_tensor_data_past_end_of_file(small, tmp_path):
    data, lay = small
    t = lay.tensors["q4_k.matrix"]  # the last tensor
    rejected(data[:-1], "tensor 'q4_k.matrix'", "data runs past the end of the file")
    rejected(patched(data, t["offset_at"], "Q", 2**40), "tensor 'q4_k.matrix'", "past the end of the file")
    rejected(patched(data, t["offset_at"], "Q", 2**64 - 32), "(absolute >= 2^64)")
    rejected(patched(data, t["ne_at"] + 8, "Q", 1000), "tensor 'q4_k.matrix'", "data runs past the end")
    rejected(patched(data, t["offset_at"], "Q", 16), "not a multiple of the alignment 32")
    # through the mmap path too
    path = tmp_path / "cut.gguf"
    path.write_bytes(data[:-100])
    with pytest.raises(GGUFError, match="q4_k.matrix.*runs past the end of the file"):
        GGUFFile(path)


def test_overflowing_and_bad_shapes(small):
    data, lay = small
    t = lay.tensors["f32.matrix"]
    two_d = patched(patched(data, t["ne_at"], "Q", 2**40), t["ne_at"] + 8, "Q", 2**40)
    rejected(two_d, "tensor 'f32.matrix'", "shape overflows int64")
    rejected(patched(data, t["ne_at"], "Q", 2**63), "dimension 0 = 9223372036854775808 does not fit in int64")
    v = lay.tensors["i32.t"]  # 1-D: 2^62 elements fit in int64, their 2^64 bytes do not
    rejected(patched(data, v["ne_at"], "Q", 2**62), "tensor 'i32.t'", "byte size of the I32 data overflows 64 bits")
    rejected(patched(data, t["n_dims_at"], "I", 5), "n_dims = 5 exceeds the maximum of 4")
    rejected(patched(data, t["n_dims_at"], "I", 2**32 - 1), "n_dims = 4294967295")
    q = lay.tensors["q8_0.matrix"]
    rejected(patched(data, q["ne_at"], "Q", 48), "row length 48 is not a multiple of Q8_0's block size 32")


def test_duplicate_tensor_names(small):
    data, lay = small
    rejected(_rename_tensor(data, lay, "i16.t", "i32.t"), "tensor 'i32.t'", "duplicate tensor name")


def _rename_tensor(data: bytes, lay: Layout, old: str, new: str) -> bytes:
    assert len(old) == len(new)
    at = lay.tensors[old]["start"] + 8
    return data[:at] + new.encode() + data[at + len(new):]


def test_unknown_type_id_fails_only_when_used(small, tmp_path, capsys):
    data, lay = small
    bad = patched(data, lay.tensors["i8.t"]["type_at"], "I", 77)
    path = tmp_path / "unknown_type.gguf"
    path.write_bytes(bad)
    with GGUFFile(path) as f:
        info = f.tensors["i8.t"]
        assert info.type == "UNKNOWN(77)" and info.type_id == 77 and not info.type_known
        with pytest.raises(GGUFError, match="tensor 'i8.t' has unknown GGML type id 77"):
            info.nbytes
        with pytest.raises(GGUFError, match="tensor 'i8.t' has unknown GGML type id 77"):
            f.tensor_bytes("i8.t")
        with pytest.raises(GGUFError, match="tensor 'i8.t' has unknown GGML type id 77"):
            f.tensor("i8.t")
        assert f.tensor("f32.matrix").shape == (3, 5)  # other tensors are unaffected
    # inspect still describes the file
    from pysparse.cli import main

    assert main(["inspect", str(path), "--tensors"]) == 0
    out = capsys.readouterr().out
    assert "UNKNOWN(77)" in out


# ---- truncation and mutation ---------------------------------------------------------------------------------------

def test_truncation_at_every_byte_of_small_file(small):
    data, lay = small
    for n in range(len(data)):
        rejected(data[:n])


def test_truncation_of_the_real_header(smol_header):
    data, lay = smol_header
    rng = random.Random(7)
    cuts = sorted(set(range(0, 4096)) | {rng.randrange(len(data)) for _ in range(300)} | set(lay.keys.values()))
    for n in cuts:
        rejected(data[:n])


def test_truncation_in_the_data_region_of_a_real_sized_file(smol_header, smollm2_path, tmp_path):
    """The real header followed by a (sparse) data region cut anywhere before the real end: the mmap'd file is
    rejected, naming the first tensor that does not fit. The last tensor of SmolLM2 ends exactly at EOF."""
    head, _ = smol_header
    size = smollm2_path.stat().st_size
    path = tmp_path / "smol_cut.gguf"
    path.write_bytes(head)
    with GGUFFile(smollm2_path) as f:
        last = list(f.tensors.values())[-1]
        assert last.offset + last.nbytes == size
        data_offset = f.data_offset
    rng = random.Random(3)
    for n in sorted({size - 1, size - 2304, data_offset, data_offset + 1} |
                    {rng.randrange(data_offset, size) for _ in range(30)}):
        os.truncate(path, n)  # grows the file with zeros, without writing them
        with pytest.raises(GGUFError, match="past the end of the file"):
            GGUFFile(path)
    os.truncate(path, size)
    with GGUFFile(path) as f:  # at full size the same header is valid
        assert len(f.tensors) == 272


def mutate(data: bytes, rng: random.Random, protect_magic: bool) -> bytes:
    m = bytearray(data)
    lo = 8 if protect_magic else 0  # keep magic and version most of the time so the parser gets deep
    for _ in range(rng.randint(1, 6)):
        kind = rng.randrange(6)
        pos = rng.randrange(lo, len(m))
        if kind == 0:
            m[pos] = rng.randrange(256)
        elif kind == 1:
            m[pos] ^= 1 << rng.randrange(8)
        elif kind == 2 and pos + 8 <= len(m):  # an interesting 64-bit value in place of a count/length/offset
            m[pos:pos + 8] = struct.pack("<Q", rng.choice([0, 1, 2**31, 2**32, 2**63, 2**64 - 1, len(m), 10**18]))
        elif kind == 3 and pos + 4 <= len(m):
            m[pos:pos + 4] = struct.pack("<I", rng.choice([0, 5, 9, 12, 13, 31, 99, 2**31]))
        elif kind == 4:
            del m[pos:pos + rng.randint(1, 16)]
        else:
            m[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(m)


def test_random_mutations_small_file(small):
    data, _ = small
    rng = random.Random(2024)
    results = [outcome(mutate(data, rng, protect_magic=rng.random() < 0.9)) for _ in range(3000)]
    n_ok = results.count("ok")
    assert 0 < n_ok < len(results)  # both outcomes happen: the mutations reach past the header
    assert all("byte offset" in r or "unknown GGML type" in r for r in results if r != "ok")


def test_random_mutations_real_header(smol_header):
    data, lay = smol_header
    rng = random.Random(99)
    # the header alone always ends in an error (no tensor data); the mutations test the metadata and table parsing
    for _ in range(400):
        rejected(mutate(data[: 64 * 1024], rng, protect_magic=True))
    for _ in range(100):
        rejected(mutate(data, rng, protect_magic=True))


def test_subprocess_isolated_sample(small, tmp_path):
    """A sample of bad files opened through mmap in a child process: a crash (signal) fails this test."""
    data, _ = small
    rng = random.Random(5)
    files = []
    for i in range(200):
        bad = mutate(data, rng, protect_magic=i % 4 != 0) if i % 3 else data[: rng.randrange(len(data))]
        p = tmp_path / f"bad_{i:03d}.gguf"
        p.write_bytes(bad)
        files.append(p)
    script = textwrap.dedent("""
        import sys
        from pysparse.engine import GGUFError, GGUFFile
        for path in sys.argv[1:]:
            try:
                f = GGUFFile(path)
                _ = f.metadata
                for name, info in f.tensors.items():
                    try:
                        b = f.tensor_bytes(name)
                        if len(b):
                            int(b[0]) + int(b[-1])
                    except GGUFError:
                        pass
                print("ok", flush=True)
            except GGUFError as e:
                print("err", flush=True)
    """)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]) + os.pathsep +
               os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 0, f"child died with {proc.returncode}: {proc.stderr[-2000:]}"
    lines = proc.stdout.split()
    assert len(lines) == len(files) and set(lines) <= {"ok", "err"}
    # the in-process result agrees with the mmap'd one, file by file
    assert lines == ["ok" if outcome(p.read_bytes()) == "ok" else "err" for p in files]
