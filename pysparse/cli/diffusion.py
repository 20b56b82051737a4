"""`pysparse diffusion generate|stats|sweep`: masked-diffusion LLMs (LLaDA, Dream) sparsified per denoising step."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HELP = ("masked-diffusion LLMs (LLaDA/Dream checkpoints or the built-in random model): generate with a sparsity rule, "
        "per-step statistics and mask reuse, sweeps and critical sparsity")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="random",
                   help="a LLaDA/Dream checkpoint directory or Hugging Face Hub id (remote code is trusted: only use "
                        "checkpoints you trust) or random[:SEED], the small random-initialised test model "
                        "(default random)")
    p.add_argument("--mask-id", type=int, default=None, help="[MASK] token id (default: from the tokenizer/config; "
                                                             "LLaDA 126336)")
    p.add_argument("--site", default="input", help="input (default), gate, up, intermediate or all_inputs")
    p.add_argument("--scope", default="token", choices=["token", "sample"],
                   help="apply the rule per token (default) or over each sample's whole sequence-by-hidden block")
    p.add_argument("--layers", default=None, help="only these layers, e.g. 0,5,10 (default all)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="weights dtype (default float32; bfloat16 halves the memory of an 8B checkpoint)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--seed", type=int, default=0, help="sampling / Monte-Carlo seed")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _sampler(p: argparse.ArgumentParser, gen_length: int = 32) -> None:
    p.add_argument("--gen-length", type=int, default=gen_length, help=f"answer tokens (default {gen_length})")
    p.add_argument("--steps", type=int, default=None, help="denoising steps (default: gen-length)")
    p.add_argument("--block-length", type=int, default=None,
                   help="semi-autoregressive block length (default: gen-length, one block)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 (default): argmax; > 0: Gumbel-max sampling")
    p.add_argument("--cfg", type=float, default=0.0, help="classifier-free guidance scale (default 0: off)")
    p.add_argument("--remasking", default="low_confidence", choices=["low_confidence", "random"],
                   help="which candidates stay masked at each step: the least confident (default, LLaDA's) or "
                        "random ones")


def _rule(p: argparse.ArgumentParser, value_default) -> None:
    p.add_argument("--rule", default="top_p", help="top_p (default), top_k or max_p")
    p.add_argument("--value", type=float, default=value_default,
                   help=f"the rule's value (top_p: p, top_k: keep fraction, max_p: p); "
                        f"{'default: dense' if value_default is None else f'default {value_default}'}")


def register(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="diffusion_command", metavar="SUBCOMMAND")
    g = sub.add_parser("generate", help="generate an answer with the diffusion sampler, optionally sparsified",
                       description="generate an answer with the masked-diffusion sampler, optionally sparsified")
    _common(g)
    _sampler(g)
    _rule(g, None)
    g.add_argument("--prompt", default="The capital of France is", help="prompt text")
    g.add_argument("--reuse", default="1", help="mask reuse: K (a mask serves K steps), oTAU (refresh when the "
                                               "probe overlap drops below TAU) or KoTAU (default 1: no reuse)")
    g.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    g.set_defaults(_sub=run_generate)

    s = sub.add_parser("stats", help="per-step statistics (sparsity, mask overlap, neuron frequency) and a "
                                     "mask-reuse table, with PNG plots",
                       description="per-step statistics of sparsified diffusion generation and the mask-reuse "
                                   "strategy compared with the dense sampler")
    _common(s)
    _sampler(s)
    _rule(s, 0.9)
    s.add_argument("--prompt", action="append", default=None,
                   help="prompt text (repeatable); default: --prompts passages of held-out Wikipedia")
    s.add_argument("--prompts", type=int, default=4, help="Wikipedia prompts when no --prompt is given (default 4)")
    s.add_argument("--prompt-tokens", type=int, default=32, help="tokens per Wikipedia prompt (default 32)")
    s.add_argument("--reuse", nargs="*", default=["1", "2", "4", "8", "o0.9", "o0.8"], metavar="SETTING",
                   help="mask-reuse settings for the table: K, oTAU or KoTAU (default 1 2 4 8 o0.9 o0.8; "
                        "none: no table)")
    s.add_argument("--judge-samples", type=int, default=16,
                   help="Monte-Carlo maskings for the dense model's likelihood of each answer in the reuse table "
                        "(default 16; 0: skip)")
    s.add_argument("--out", default="pysparse-results/diffusion-stats", help="output directory")
    s.set_defaults(_sub=run_stats)

    w = sub.add_parser("sweep", help="sweep a rule (or bisect for the critical sparsity) on a diffusion model with "
                                     "Monte-Carlo likelihood and sampler-decoded tasks",
                       description="the framework's sweep / critical-sparsity search on a diffusion model")
    _common(w)
    w.add_argument("--rule", default="top_p", help="top_p (default), top_k, max_p or threshold (calibrated)")
    w.add_argument("--tasks", default="default",
                   help="comma-separated tasks or suites as in `pysparse sweep` (perplexity tasks become ELBO "
                        "perplexity; multiple choice is scored by Monte-Carlo likelihood; cloze is decoded by the "
                        "sampler) (default: wikipedia + wikipedia_cloze)")
    w.add_argument("--budget", default="small", help="tiny, small (default), medium or large")
    w.add_argument("--limit", type=int, default=None, help="examples per cloze/multiple-choice task")
    w.add_argument("--grid", nargs="*", type=float, default=None, metavar="VALUE",
                   help="rule values (default: the rule's grid, for top_p the paper's)")
    w.add_argument("--bisect", action="store_true", help="bisect the grid for the 99%% crossing (critical sparsity)")
    w.add_argument("--mc-samples", type=int, default=32, help="Monte-Carlo maskings per likelihood (default 32)")
    w.add_argument("--cfg", type=float, default=0.0, help="classifier-free guidance scale (default 0: off)")
    w.add_argument("--batch-size", type=int, default=32,
                   help="masked copies per forward pass in the Monte-Carlo likelihood (default 32)")
    w.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    w.add_argument("--out", default=None, help="output directory (default ./pysparse-results/diffusion-<model>)")
    w.set_defaults(_sub=run_sweep)


def run(args) -> int:
    if not getattr(args, "_sub", None):
        raise ValueError("choose a subcommand: generate, stats or sweep (see pysparse diffusion --help)")
    return args._sub(args)


# ---------------------------------------------------------------------------------------------- helpers

def _setup(args):
    import torch

    from ..diffusion import load
    from ..sites import SITES

    if args.site not in SITES:
        raise ValueError(f"unknown site {args.site!r}; sites: {', '.join(SITES)}")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"loading {args.model} ...", file=sys.stderr, flush=True)
    dlm, tok = load(args.model, mask_id=args.mask_id, dtype=getattr(torch, args.dtype))
    layers = [int(x) for x in args.layers.split(",")] if args.layers else None
    return dlm, tok, layers


def _make_rule(args):
    from ..rules import make_rule

    if args.value is None:
        return None
    if args.rule not in ("top_p", "top_k", "max_p"):
        raise ValueError(f"--rule {args.rule!r}: generate/stats take top_p, top_k or max_p (threshold needs "
                         f"calibration: use `pysparse diffusion sweep --rule threshold`)")
    return make_rule(args.rule, args.value)


def _gen_kw(args) -> dict:
    steps = args.gen_length if args.steps is None else args.steps
    return dict(gen_length=args.gen_length, steps=steps, block_length=args.block_length,
                temperature=args.temperature, cfg_scale=args.cfg, remasking=args.remasking, seed=args.seed)


def _encode(tok, text: str) -> list[int]:
    """Prompt ids as the tasks encode text: BOS first when the tokenizer uses one."""
    from ..tasks.base import EvalContext

    ids = EvalContext(None, tok).bos() + tok(text, add_special_tokens=False)["input_ids"]
    if not ids:
        raise ValueError("the prompt is empty")
    return ids


# ---------------------------------------------------------------------------------------------- generate

def run_generate(args) -> int:
    from ..diffusion import SparseDiffusion, parse_setting

    dlm, tok, layers = _setup(args)
    st = parse_setting(args.reuse)
    sd = SparseDiffusion(dlm, args.site, _make_rule(args), args.scope, st["k"], st["refresh_overlap"], layers)
    prompt = _encode(tok, args.prompt)
    t0 = time.time()
    g = sd.generate(prompt, **_gen_kw(args))
    answer = tok.decode(g.answer[0].tolist(), skip_special_tokens=True)
    res = {"model": dlm.name, "prompt": args.prompt, "answer": answer, "answer_ids": g.answer[0].tolist(),
           "steps": g.steps, "site": args.site, "rule": args.rule if args.value is not None else None,
           "value": args.value, "scope": args.scope, "reuse": args.reuse, "sparsity": sd.sp.stats.overall(),
           "work_saved": sd.rule.work_saved, "seconds": time.time() - t0}
    if args.json:
        print(json.dumps(res))
    else:
        print(answer)
        rule = "dense" if args.value is None else f"{args.rule}={args.value:g} ({args.scope})"
        print(f"[{args.site} {rule}, reuse {args.reuse}] sparsity {res['sparsity']:.4f}, selection work saved "
              f"{res['work_saved']:.3f}, {g.steps} steps, {res['seconds']:.1f} s", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- stats

def _prompts(args, tok):
    import torch

    if args.prompt:
        ids = [_encode(tok, p) for p in args.prompt]
        if len({len(i) for i in ids}) > 1:  # one batch needs equal lengths: keep the last tokens of each
            n = min(len(i) for i in ids)
            ids = [i[len(i) - n:] for i in ids]
        return torch.tensor(ids), list(args.prompt)
    from .. import data

    docs = data.split_docs(data.load("wikipedia", progress=not args.quiet), "eval")
    ids, texts = [], []
    for d in docs:
        t = _encode(tok, d["text"])[:args.prompt_tokens]
        if len(t) == args.prompt_tokens:
            ids.append(t)
            texts.append(tok.decode(t))
        if len(ids) == args.prompts:
            break
    if len(ids) < args.prompts:
        raise ValueError(f"only {len(ids)} Wikipedia documents have {args.prompt_tokens} tokens")
    return torch.tensor(ids), texts


def run_stats(args) -> int:
    from ..diffusion import SparseDiffusion, compare_reuse, parse_setting, reuse_table
    from ..diffusion.stepstats import write_json
    from ..report import _atomic_text

    dlm, tok, layers = _setup(args)
    rule = _make_rule(args)
    settings = [parse_setting(s) for s in args.reuse]
    out = Path(args.out)
    prompt, texts = _prompts(args, tok)
    gen = _gen_kw(args)
    t0 = time.time()
    sd = SparseDiffusion(dlm, args.site, rule, args.scope, 1, None, layers)
    g = sd.generate(prompt, **gen)
    summ = sd.steps.summary()
    label = "dense" if rule is None else f"{rule!r} ({args.scope})"
    res = {"model": dlm.name, "site": args.site, "rule": label, "scope": args.scope, "sampler": gen,
           "prompts": texts, "answers": [tok.decode(a.tolist()) for a in g.answer], "stats": sd.steps.to_dict()}
    write_json(out / "stats.json", res)
    plots = sd.steps.plot(out, title="")
    ov_p, ov_f, sp = sd.steps.overlap("prev"), sd.steps.overlap("first"), sd.steps.step_sparsity()
    lines = [f"# Per-step statistics: {dlm.name}, site {args.site}, {label}", "",
             f"{len(texts)} prompt(s), gen_length {gen['gen_length']}, {gen['steps']} steps, block "
             f"{gen['block_length'] or gen['gen_length']}", "",
             "| step | block | sparsity | overlap with previous | overlap with first | chance overlap with first |",
             "|---|---|---|---|---|---|"]
    ch_f = sd.steps.overlap("first", chance=True)
    lines += [f"| {i} | {sd.steps.blocks[i]} | {sp[i]:.4f} | {ov_p[i]:.4f} | {ov_f[i]:.4f} | {ch_f[i]:.4f} |"
              for i in range(sd.steps.n_steps)]
    lines += ["", "summary: " + ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                          for k, v in summ.items())]
    text = "\n".join(lines) + "\n"
    if settings and rule is not None:
        rows = compare_reuse(dlm, prompt, args.site, rule, settings, args.scope, layers, gen,
                             progress=not args.quiet, judge_samples=args.judge_samples)
        write_json(out / "reuse.json", {"model": dlm.name, "site": args.site, "rule": label, "sampler": gen,
                                        "rows": rows})
        text += "\n## Mask reuse\n\n" + reuse_table(rows)
    _atomic_text(out / "stats.md", text)
    print(text)
    print(f"written: {out / 'stats.json'}, {out / 'stats.md'}, " + ", ".join(str(p) for p in plots)
          + f"  [{time.time() - t0:.0f} s]", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------------------------- sweep

def run_sweep(args) -> int:
    from .. import data, report
    from ..diffusion import DiffusionSweep, diffusion_suite
    from ..sweep import DEFAULT_GRIDS, ResultsFile, check_values
    from ._eval import model_slug

    if args.rule not in DEFAULT_GRIDS:
        raise ValueError(f"unknown rule {args.rule!r}; rules: {', '.join(DEFAULT_GRIDS)}")
    if args.grid:
        check_values(args.rule, args.grid)
    t0 = time.time()
    progress = not args.quiet
    tasks = diffusion_suite(args.tasks, args.budget, args.limit, args.seed, progress=progress)
    dlm, tok, layers = _setup(args)
    slug = model_slug(args.model).replace(":", "-")
    out = Path(args.out or Path("pysparse-results") / f"diffusion-{slug}")
    out.mkdir(parents=True, exist_ok=True)
    results = out / "results.jsonl"
    calib = data.split_docs(data.load("wikipedia", progress=progress), "calib") if args.rule == "threshold" else None
    sw = DiffusionSweep(dlm, tok, tasks, args.site, args.rule, scope=args.scope, mc_samples=args.mc_samples,
                        cfg_scale=args.cfg, results=results, model_id=f"{slug}-{args.scope}", layers=layers,
                        mc_batch=args.batch_size, progress=progress, calib_docs=calib, seed=args.seed)
    print(f"[{args.site}, scope {args.scope}] {len(sw.done)} point(s) already in {results}", file=sys.stderr)
    if args.bisect:
        sw.bisect(args.grid or None)
    else:
        sw.run(args.grid or None)
    recs = ResultsFile(results).records()
    summary = report.build(recs, n_boot=args.n_boot, seed=args.seed)
    report.write_all(summary, recs, out)
    print(report.markdown_table(summary))
    print(f"\nresults: {results}\nreport: {out / 'summary.md'} (+ JSON and PNG plots)  [{time.time() - t0:.0f} s]")
    return 0
