"""Loading a diffusion checkpoint the way a LLaDA / Dream user does: a directory with remote code (auto_map),
weights and a tokenizer, through pysparse.diffusion.load (trust_remote_code=True). The remote code here is a toy
with LLaDA's block layout, written for this test; the real LLaDA and Dream code are not available offline."""

import json
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))

from pysparse import diffusion  # noqa: E402
from pysparse.rules import TopP  # noqa: E402

CONFIG_PY = '''
from transformers import PretrainedConfig


class ToyDiffusionConfig(PretrainedConfig):
    model_type = "{model_type}"

    def __init__(self, vocab_size=40, d_model=16, mlp_hidden_size=40, n_layers=2, **kw):
        self.vocab_size, self.d_model, self.mlp_hidden_size, self.n_layers = vocab_size, d_model, mlp_hidden_size, n_layers
        super().__init__(**kw)
'''

MODELING_PY = '''
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import CausalLMOutput

from .configuration_toy import ToyDiffusionConfig


class Block(nn.Module):  # attention and FFN linears side by side, as in LLaDA's block
    def __init__(self, c):
        super().__init__()
        d, f = c.d_model, c.mlp_hidden_size
        self.attn_norm, self.ff_norm = nn.LayerNorm(d), nn.LayerNorm(d)
        self.q_proj, self.k_proj, self.v_proj, self.attn_out = (nn.Linear(d, d, bias=False) for _ in range(4))
        self.ff_proj, self.up_proj = nn.Linear(d, f, bias=False), nn.Linear(d, f, bias=False)
        self.ff_out = nn.Linear(f, d, bias=False)
        self.act = nn.SiLU()

    def forward(self, x):
        h = self.attn_norm(x)
        a = torch.softmax(self.q_proj(h) @ self.k_proj(h).transpose(-1, -2) / 4.0, -1) @ self.v_proj(h)
        x = x + self.attn_out(a)
        h = self.ff_norm(x)
        g, u = self.ff_proj(h), self.up_proj(h)
        return x + self.ff_out(self.act(g) * u)


class ToyDiffusionModel(PreTrainedModel):
    config_class = ToyDiffusionConfig

    def __init__(self, config):
        super().__init__(config)
        self.wte = nn.Embedding(config.vocab_size, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layers))
        self.lm_head = nn.Linear(config.d_model, config.vocab_size, bias=False)
        self.post_init()

    def forward(self, input_ids, attention_mask=None, **kw):
        x = self.wte(input_ids)
        for b in self.blocks:
            x = b(x)
        return CausalLMOutput(logits=self.lm_head(x))
'''

CHARS = "abcdefghijklmnopqrstuvwxyz .,"


def _checkpoint(d: Path, model_type: str) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

    d.mkdir(parents=True)
    (d / "configuration_toy.py").write_text(CONFIG_PY.format(model_type=model_type))
    (d / "modeling_toy.py").write_text(MODELING_PY)
    (d / "config.json").write_text(json.dumps({
        "model_type": model_type, "architectures": ["ToyDiffusionModel"], "vocab_size": 40,
        "auto_map": {"AutoConfig": "configuration_toy.ToyDiffusionConfig",
                     "AutoModel": "modeling_toy.ToyDiffusionModel"}}))
    cfg = AutoConfig.from_pretrained(d, trust_remote_code=True)
    torch.manual_seed(0)
    AutoModel.from_config(cfg, trust_remote_code=True).save_pretrained(d)
    vocab = {"[PAD]": 0, "[MASK]": 1} | {c: i + 2 for i, c in enumerate(CHARS)}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="[PAD]"))
    tk.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    PreTrainedTokenizerFast(tokenizer_object=tk, pad_token="[PAD]", mask_token="[MASK]").save_pretrained(d)
    return d


@pytest.mark.parametrize("model_type,shift", [("llada", False), ("dream", True)])
def test_remote_code_checkpoint_loads_generates_and_sparsifies(tmp_path, model_type, shift):
    d = _checkpoint(tmp_path / model_type, model_type)
    dlm, tok = diffusion.load(d)
    assert dlm.mask_id == 1 and dlm.shift_logits is shift and dlm.name == model_type
    prompt = tok("the cat", add_special_tokens=False)["input_ids"]
    assert len(prompt) == 7
    dense = diffusion.generate(dlm, prompt, gen_length=6, steps=6, block_length=3)
    assert not (dense.ids == dlm.mask_id).any()
    with pytest.warns(UserWarning, match="not among the tested"):
        sd = diffusion.SparseDiffusion(dlm, "input", TopP(0.8), scope="sample", k=2)
    assert [f.kind for f in sd.sp.ffns] == ["block_glu", "block_glu"]
    g = sd.generate(prompt, gen_length=6, steps=6, block_length=3)
    assert 0 < sd.sp.stats.overall() < 1 and sd.steps.n_steps == 6 and sd.rule.work_saved == 0.5
    assert torch.equal(diffusion.generate(dlm, prompt, gen_length=6, steps=6, block_length=3).ids, dense.ids)
    assert g.ids.shape == dense.ids.shape


def test_checkpoint_without_a_mask_token_needs_mask_id(tmp_path):
    d = _checkpoint(tmp_path / "m", "toymdm")
    cfg = json.loads((d / "tokenizer_config.json").read_text())
    cfg.pop("mask_token", None)
    (d / "tokenizer_config.json").write_text(json.dumps(cfg))
    sp = json.loads((d / "special_tokens_map.json").read_text()) if (d / "special_tokens_map.json").exists() else None
    if sp is not None:
        sp.pop("mask_token", None)
        (d / "special_tokens_map.json").write_text(json.dumps(sp))
    with pytest.raises(ValueError, match="--mask-id"):
        diffusion.load(d)
    dlm, _ = diffusion.load(d, mask_id=1)
    assert dlm.mask_id == 1
