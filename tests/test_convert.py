"""`pysparse convert`: HF checkpoints -> GGUF, checked by transformers loading the file (an oracle outside our code).

Tiny random checkpoints of each architecture are written by transformers in the test, with SmolLM2's real tokenizer
(llama.cpp refuses made-up BPE tokenizers). Two logit checks per file:
- exact wiring: the GGUF's logits (transformers, gguf_file=) equal those of the HF model whose weights went through
  the same per-tensor quantise -> dequantise (gguf.quants decodes), to float rounding. Any wrong name, permutation,
  norm shift or metadata key breaks this.
- the type's error: relative RMS of the logits against the float model, within a bound per type.
- once pysparse.engine.Model is in the tree: the engine's logits on the same file match transformers'.
The real model: SmolLM2's GGUF -> HF checkpoint (transformers) -> convert at Q4_1 -> every tensor byte-identical to
the original file and the metadata equal except the keys only the original model card / tokenizer_config carried.
Opt-in (PYSPARSE_LLAMA_CPP_DIR): llama.cpp's llama-simple runs converted files.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pysparse.convert import convert, encode, plan  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# relative RMS error of the logits vs the float model (tiny random models; measured, with margin): see docs/convert.md
TYPE_BOUND = {"F32": 1e-5, "F16": 3e-3, "Q8_0": 4e-2, "Q4_K_M": 0.35}
WIRING_BOUND = 2e-4  # GGUF logits vs the identically fake-quantised HF model (float32 op-order differences only)


def _quiet():
    from transformers.utils import logging as hl

    hl.set_verbosity_error()
    hl.disable_progress_bar()


@pytest.fixture(scope="session")
def smol_tokenizer(smollm2_path):
    _quiet()
    return transformers.AutoTokenizer.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name)


def tiny_config(arch: str):
    common = dict(vocab_size=49152, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                  bos_token_id=1, eos_token_id=2, pad_token_id=2)
    if arch == "llama":
        return transformers.LlamaConfig(**common, tie_word_embeddings=True)
    if arch == "qwen2":
        return transformers.Qwen2Config(**common, tie_word_embeddings=False)
    if arch == "qwen3":  # transformers' GGUF loader (5.24) assumes qwen3's head_dim is 128
        return transformers.Qwen3Config(**{**common, "num_attention_heads": 2, "num_key_value_heads": 1},
                                        head_dim=128, tie_word_embeddings=True)
    if arch == "gemma3":
        # llama.cpp (and our engine) scale attention by 1/sqrt(head_dim); transformers by query_pre_attn_scalar, which
        # its GGUF loader (5.24) leaves at 256. Real Gemma 3 has both equal; so must the tiny model, at 256.
        return transformers.Gemma3TextConfig(**common, head_dim=256, query_pre_attn_scalar=256, sliding_window=64,
                                             tie_word_embeddings=True)
    raise ValueError(arch)


_BUILT: dict = {}


def tiny_checkpoint(arch: str, tmp_root: Path, tokenizer):
    """(dir, model) of a tiny random HF checkpoint, written once per session."""
    if arch not in _BUILT:
        torch.manual_seed(0)
        model = transformers.AutoModelForCausalLM.from_config(tiny_config(arch)).eval()
        d = tmp_root / arch
        model.save_pretrained(d)
        tokenizer.save_pretrained(d)
        _BUILT[arch] = (d, model)
    return _BUILT[arch]


def token_ids(tokenizer):
    return tokenizer("The quick brown fox jumps over the lazy dog. Once upon a time there was",
                     return_tensors="pt")["input_ids"]


def fake_quantised(model, d: Path, qtype: str):
    """A copy of `model` whose weights hold what the GGUF file stores, decoded by gguf.quants (rows are quantised
    independently, so quantising HF's row order equals quantising llama.cpp's permuted one)."""
    import copy

    pl = plan(d, qtype)
    m = copy.deepcopy(model)
    sd = m.state_dict()
    with torch.no_grad():
        for t in pl.tensors:
            if t.hf_name is None or t.qtype == gguf.GGMLQuantizationType.F32:
                continue
            x = sd[t.hf_name].float().numpy()
            back = gguf.quants.dequantize(encode(x, t.qtype), t.qtype).reshape(x.shape)
            sd[t.hf_name].copy_(torch.from_numpy(np.ascontiguousarray(back)))
    return m


# every architecture and every type once in the default run (each GGUF load by transformers takes ~10 s here)
CASES = [("llama", "Q4_K_M"), ("qwen2", "Q8_0"), ("qwen3", "F16"), ("gemma3", "Q4_K_M")]
SLOW_CASES = [(a, t) for a in ("llama", "qwen2", "qwen3", "gemma3") for t in ("F32", "F16", "Q8_0", "Q4_K_M")
              if (a, t) not in CASES]
# pysparse's runtime vs transformers on the same converted file (the engine quantises activations to 8 bits in its
# matvecs, hence a bound per type); runs once pysparse.engine.Model is in the tree
ENGINE_BOUND = {"F32": 1e-3, "F16": 1e-3, "Q8_0": 2e-2, "Q4_K_M": 5e-2}


@pytest.mark.parametrize("arch,qtype", CASES + [pytest.param(*c, marks=pytest.mark.slow) for c in SLOW_CASES])
def test_transformers_loads_converted_tiny_model(arch, qtype, tmp_path_factory, smol_tokenizer):
    torch.set_num_threads(1)
    _quiet()
    d, model = tiny_checkpoint(arch, tmp_path_factory.getbasetemp() / "tiny-hf", smol_tokenizer)
    out = tmp_path_factory.mktemp(f"{arch}-{qtype}") / "model.gguf"
    convert(d, out, qtype, progress=False)
    assert not out.with_name(out.name + ".tmp").exists()
    ids = token_ids(smol_tokenizer)
    loaded = transformers.AutoModelForCausalLM.from_pretrained(out.parent, gguf_file=out.name,
                                                               dtype=torch.float32).eval()
    with torch.no_grad():
        got = loaded(ids).logits[0].numpy()
        want_float = model(ids).logits[0].numpy()
        want_exact = fake_quantised(model, d, qtype)(ids).logits[0].numpy()
    rms = lambda a: float(np.sqrt(np.mean(a ** 2)))  # noqa: E731
    wiring = rms(got - want_exact) / rms(want_exact)
    error = rms(got - want_float) / rms(want_float)
    print(f"{arch} {qtype}: wiring {wiring:.2e}, error vs float {error:.2e}")
    assert wiring <= WIRING_BOUND
    assert error <= TYPE_BOUND[qtype]
    from pysparse import engine

    if hasattr(engine, "Model"):
        eng = np.asarray(engine.Model.load(out, threads=1).logits(ids[0].tolist()), dtype=np.float32)
        eng = eng.reshape(-1, got.shape[-1])[-got.shape[0]:]
        rel = rms(eng - got) / rms(got)
        print(f"engine {arch} {qtype}: rel rms vs transformers {rel:.2e}")
        assert rel <= ENGINE_BOUND[qtype]


def test_q4_k_m_type_choices_in_tiny_file(tmp_path_factory, smol_tokenizer):
    d, _ = tiny_checkpoint("llama", tmp_path_factory.getbasetemp() / "tiny-hf", smol_tokenizer)
    types = {t.gguf_name: t.qtype.name for t in plan(d, "Q4_K_M").tensors}
    # 2 layers: use_more_bits picks layer 1 (>= 7 * 2 // 8) and not layer 0
    assert types["blk.0.attn_v.weight"] == "Q4_K" and types["blk.1.attn_v.weight"] == "Q6_K"
    assert types["blk.0.ffn_down.weight"] == "Q4_K" and types["blk.1.ffn_down.weight"] == "Q6_K"
    assert types["token_embd.weight"] == "Q6_K"  # tied to the output
    assert types["blk.0.attn_norm.weight"] == "F32" and types["output_norm.weight"] == "F32"


@pytest.mark.parametrize("layout", ["sharded safetensors", "pytorch bin"])
def test_shards_and_bin_files_give_the_same_file(layout, tmp_path_factory, smol_tokenizer, tmp_path):
    d, model = tiny_checkpoint("llama", tmp_path_factory.getbasetemp() / "tiny-hf", smol_tokenizer)
    other = tmp_path / "ckpt"
    if layout == "sharded safetensors":
        model.save_pretrained(other, max_shard_size="20MB")
        assert len(list(other.glob("model-*.safetensors"))) > 1
    else:  # a PyTorch checkpoint, as older models ship
        other.mkdir()
        (other / "config.json").write_text((d / "config.json").read_text())
        state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}  # tied, as HF saves it
        torch.save(state, other / "pytorch_model.bin")
    smol_tokenizer.save_pretrained(other)
    a, b = convert(d, tmp_path / "a.gguf", "Q8_0", progress=False), convert(other, tmp_path / "b.gguf", "Q8_0",
                                                                           progress=False)
    ta = {t.name: np.asarray(t.data).tobytes() for t in gguf.GGUFReader(a).tensors}
    tb = {t.name: np.asarray(t.data).tobytes() for t in gguf.GGUFReader(b).tensors}
    assert ta == tb


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="session")
def smollm2_hf_dir(smollm2_path, tmp_path_factory):
    """SmolLM2's GGUF as an HF checkpoint, written by transformers (dequantised float32)."""
    _quiet()
    d = tmp_path_factory.mktemp("smollm2-hf")
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name,
                                                              dtype=torch.float32)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


# keys the original file took from the model card / tokenizer_config that transformers does not write back, and
# head_dim (transformers' config states it, so the converter writes key/value_length as llama.cpp's would)
NOT_ROUND_TRIPPED = {"general.basename", "general.finetune", "general.languages", "general.license", "general.name",
                     "general.organization", "tokenizer.ggml.add_space_prefix", "llama.attention.key_length",
                     "llama.attention.value_length", "general.size_label"}


def _fields(reader):
    out = {}
    for k, f in reader.fields.items():
        if k.startswith("GGUF."):
            continue
        out[k] = f.contents()
    return out


def test_smollm2_round_trip_is_byte_identical(smollm2_path, smollm2_hf_dir, tmp_path):
    out = tmp_path / "smollm2-q4_1.gguf"
    # through the CLI, in a subprocess: the user's path
    r = subprocess.run([sys.executable, "-m", "pysparse", "convert", str(smollm2_hf_dir), "-o", str(out),
                        "--type", "Q4_1", "--quiet"], cwd=ROOT, capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "wrote" in r.stdout
    a, b = gguf.GGUFReader(smollm2_path), gguf.GGUFReader(out)
    fa, fb = _fields(a), _fields(b)
    for k in sorted(set(fa) | set(fb)):
        if k in NOT_ROUND_TRIPPED:
            continue
        assert fa.get(k) == fb.get(k), k
    assert fa["tokenizer.ggml.pre"] == "smollm" and len(fb["tokenizer.ggml.merges"]) == 48900
    ta, tb = {t.name: t for t in a.tensors}, {t.name: t for t in b.tensors}
    assert list(ta) and set(ta) == set(tb)
    for name, t in ta.items():
        u = tb[name]
        assert (t.tensor_type, list(t.shape)) == (u.tensor_type, list(u.shape)), name
        assert np.array_equal(np.asarray(t.data).view(np.uint8), np.asarray(u.data).view(np.uint8)), name


@pytest.mark.slow
def test_smollm2_round_trip_logits(smollm2_path, smollm2_hf_dir, tmp_path):
    _quiet()
    out = tmp_path / "smollm2-q4_1.gguf"
    convert(smollm2_hf_dir, out, "Q4_1", progress=False)
    tok = transformers.AutoTokenizer.from_pretrained(smollm2_path.parent, gguf_file=smollm2_path.name)
    ids = token_ids(tok)
    logits = []
    for p in (smollm2_path, out):
        m = transformers.AutoModelForCausalLM.from_pretrained(p.parent, gguf_file=p.name, dtype=torch.float32).eval()
        with torch.no_grad():
            logits.append(m(ids).logits[0].numpy())
    assert np.array_equal(logits[0], logits[1])


# ---------------------------------------------------------------- type choices of real files


@pytest.mark.parametrize("model,preset", [("smollm2-135m", "Q4_1")] + [
    pytest.param(m, "Q4_K_M", marks=pytest.mark.slow)  # the larger real models, as elsewhere in the suite
    for m in ("gemma3-270m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b")])
def test_type_choices_equal_llama_quantize_on_real_files(model, preset):
    """Every tensor of the real llama.cpp-made files gets the type our chooser picks for its name and shape."""
    from conftest import real_model_path
    from pysparse.convert.types import Chooser, preset as get_preset

    from pysparse.engine import GGUFFile

    f = GGUFFile(real_model_path(model))  # the engine's mmap reader: the tensor table in file order, fast
    arch = f.metadata["general.architecture"]
    n_layers = f.metadata[f"{arch}.block_count"]
    names = list(f.tensors)
    tied = "output.weight" not in names
    chooser = Chooser(get_preset(preset), names, n_layers, tied)
    assert n_layers == sum(".ffn_down." in n for n in names)
    for t in f.tensors.values():  # in the file's order (blk.0, blk.1, blk.10, ...), as llama-quantize counted
        assert chooser(t.name, t.shape).name == t.type, t.name


# ---------------------------------------------------------------- bad input


@pytest.fixture()
def llama_dir(tmp_path_factory, smol_tokenizer):
    d, _ = tiny_checkpoint("llama", tmp_path_factory.getbasetemp() / "tiny-hf", smol_tokenizer)
    return d


def _copy(src: Path, dst: Path, skip=()):
    import shutil

    dst.mkdir()
    for f in src.iterdir():
        if f.name not in skip:
            shutil.copy(f, dst / f.name)
    return dst


def test_existing_output_needs_force(llama_dir, tmp_path):
    out = tmp_path / "m.gguf"
    out.write_bytes(b"keep me")
    with pytest.raises(ValueError, match="exists; pass --force"):
        convert(llama_dir, out, "F16", progress=False)
    assert out.read_bytes() == b"keep me"
    convert(llama_dir, out, "F16", progress=False, force=True)
    assert gguf.GGUFReader(out).fields["general.architecture"].contents() == "llama"


def test_unsupported_architecture(llama_dir, tmp_path):
    import json

    d = _copy(llama_dir, tmp_path / "ckpt")
    cfg = json.loads((d / "config.json").read_text())
    cfg["architectures"] = ["FalconForCausalLM"]
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="unsupported architecture FalconForCausalLM; supported: .*LlamaForCausalLM"):
        convert(d, tmp_path / "m.gguf", "F16", progress=False)
    assert not list(tmp_path.glob("m.gguf*"))


def test_missing_tokenizer(llama_dir, tmp_path):
    d = _copy(llama_dir, tmp_path / "ckpt", skip={"tokenizer.json", "tokenizer_config.json"})
    with pytest.raises(FileNotFoundError, match="no tokenizer in"):
        convert(d, tmp_path / "m.gguf", "F16", progress=False)


def test_missing_shard(llama_dir, tmp_path):
    import json

    d = _copy(llama_dir, tmp_path / "ckpt")
    (d / "model.safetensors").rename(d / "model-00001-of-00002.safetensors")
    names = ["model.embed_tokens.weight"]
    (d / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
        names[0]: "model-00001-of-00002.safetensors", "model.norm.weight": "model-00002-of-00002.safetensors"}}))
    with pytest.raises(FileNotFoundError, match="model-00002-of-00002.safetensors"):
        convert(d, tmp_path / "m.gguf", "F16", progress=False)


def test_row_length_not_divisible(tmp_path, smol_tokenizer):
    torch.manual_seed(0)
    cfg = transformers.LlamaConfig(vocab_size=49152, hidden_size=48, intermediate_size=96, num_hidden_layers=1,
                                   num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True)
    d = tmp_path / "odd"
    transformers.AutoModelForCausalLM.from_config(cfg).save_pretrained(d)
    smol_tokenizer.save_pretrained(d)
    with pytest.raises(ValueError, match=r"rows of 48 values cannot be stored as Q8_0"):
        convert(d, tmp_path / "m.gguf", "Q8_0", progress=False)
    assert not list(tmp_path.glob("m.gguf*"))
    # the K presets fall back per tensor as llama-quantize does (48 % 32 != 0 -> F16)
    types = {t.gguf_name: t.qtype.name for t in plan(d, "Q4_K_M").tensors}
    assert types["blk.0.attn_q.weight"] == "F16"  # 48: Q4_K -> Q5_0 -> F16
    assert types["blk.0.ffn_down.weight"] == "Q8_0"  # 96, a use_more_bits layer: Q6_K -> Q8_0


@pytest.mark.parametrize("entry", [["-m", "pysparse", "convert"], [str(ROOT / "tools" / "convert_hf_to_gguf.py")]])
def test_cli_error_is_one_line(entry, tmp_path):
    r = subprocess.run([sys.executable, *entry, str(tmp_path / "nope"), "-o", str(tmp_path / "m.gguf")], cwd=tmp_path,
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 1
    assert r.stderr.strip().startswith("pysparse convert: error:") and len(r.stderr.strip().splitlines()) == 1
    assert "not a directory" in r.stderr


def test_interrupted_write_leaves_no_file(llama_dir, tmp_path, monkeypatch):
    from pysparse.convert import converter

    calls = {"n": 0}
    real = converter.encode

    def failing(data, qtype):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(data, qtype)

    monkeypatch.setattr(converter, "encode", failing)
    out = tmp_path / "m.gguf"
    with pytest.raises(KeyboardInterrupt):
        convert(llama_dir, out, "Q8_0", progress=False)
    assert not out.exists() and not out.with_name("m.gguf.tmp").exists()


# ---------------------------------------------------------------- llama.cpp (opt-in)


def llama_cpp_binary(name: str) -> Path:
    d = os.environ.get("PYSPARSE_LLAMA_CPP_DIR")
    if not d:
        pytest.skip("set PYSPARSE_LLAMA_CPP_DIR to a llama.cpp build folder holding llama-simple (e.g. build/bin; "
                    "`ninja llama-simple` with -DLLAMA_BUILD_EXAMPLES=ON) to run converted files in llama.cpp")
    found = sorted(p for p in Path(d).rglob(name) if p.is_file() and os.access(p, os.X_OK))
    if not found:
        pytest.skip(f"no {name} under {d}")
    return found[0]


@pytest.fixture(scope="session")
def llama_simple():
    return llama_cpp_binary("llama-simple")


@pytest.mark.parametrize("qtype", ["F16", "Q4_K_M"])
def test_llama_cpp_runs_converted_files(llama_simple, qtype, smollm2_hf_dir, tmp_path):
    exe = llama_simple
    out = tmp_path / f"smollm2-{qtype}.gguf"
    convert(smollm2_hf_dir, out, qtype, progress=False)
    r = subprocess.run([str(exe), "-m", str(out), "-n", "8", "The capital of France is"], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "The capital of France is" in r.stdout
