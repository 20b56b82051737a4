"""Sites on the real SmolLM2-135M (GGUF dequantised by transformers). Slow: run with --runslow."""

import pytest
import torch

from pysparse.rules import TopP
from pysparse.sites import SITES, Sparsifier, find_ffns


@pytest.mark.slow
def test_smollm2_all_sites(smollm2_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = smollm2_path
    model = AutoModelForCausalLM.from_pretrained(str(p.parent), gguf_file=p.name, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
    tok.padding_side = "left"
    batch = tok(["The capital of France is Paris. The capital of Germany is", "Hello"], return_tensors="pt",
                padding=True)
    ffns = find_ffns(model)
    assert len(ffns) == 30 and all(f.kind == "glu" and f.d_model == 576 and f.d_ff == 1536 for f in ffns)
    n_real = int(batch["attention_mask"].sum())
    with torch.inference_mode():
        ref = model(**batch).logits
        for site in SITES:
            with Sparsifier(model, site, TopP(1.0)) as sp:
                sp.set_tokens(batch["attention_mask"])
                assert torch.equal(model(**batch).logits, ref)
            with Sparsifier(model, site, TopP(0.9)) as sp:
                sp.set_tokens(batch["attention_mask"])
                out = model(**batch).logits
            s = sp.stats.overall()
            assert 0.2 < s < 0.8, (site, s)
            d = {"input": 576}.get(site, 1536) if site != "all_inputs" else 576 + 1536
            assert sp.stats.totals().sum() == n_real * d * 30
            assert not torch.equal(out, ref)
        assert torch.equal(model(**batch).logits, ref)
