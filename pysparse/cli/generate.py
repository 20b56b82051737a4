"""`pysparse generate MODEL "prompt"`: stream a continuation from the engine, then the speed and sparsity."""

from __future__ import annotations

import sys
import time

from ._engine import add_engine_args, describe_sparsity, load_engine

HELP = "generate text from a prompt on the engine (streams tokens, then prompt and generation tokens/s)"


def register(p):
    add_engine_args(p)
    p.add_argument("prompt", help="the prompt text")
    p.add_argument("-n", "--max-new-tokens", type=int, default=128, help="tokens to generate (default 128)")
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default 0: greedy)")
    p.add_argument("--top-k", type=int, default=0, help="sample among the k most likely tokens (0: all)")
    p.add_argument("--top-p", type=float, default=1.0, help="nucleus sampling mass (default 1: off)")
    p.add_argument("--seed", type=int, default=None, help="sampling seed")
    p.add_argument("--chat", action="store_true", help="wrap the prompt in the model's chat template")


def run(args):
    m, _ = load_engine(args)
    tok = m.tokenizer
    ids = m.chat_prompt([{"role": "user", "content": args.prompt}]) if args.chat else tok(args.prompt)["input_ids"]
    eos = [tok.eos_token_id] if tok.eos_token_id is not None else []
    m.reset_stats()
    t0 = time.perf_counter()
    t_first = None
    n_gen = 0
    if not args.chat:
        sys.stdout.write(args.prompt)
    try:
        for _, piece in m.stream(ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.seed, eos):
            if t_first is None:
                t_first = time.perf_counter()
            n_gen += 1
            sys.stdout.write(piece)
            sys.stdout.flush()
    except KeyboardInterrupt:
        print("\n[interrupted]", file=sys.stderr)
    t_end = time.perf_counter()
    print()
    if t_first is None:
        return 0
    pp = len(ids) / (t_first - t0)
    tg = (n_gen - 1) / (t_end - t_first) if n_gen > 1 else float("nan")
    st = m.stats()
    line = (f"prompt {len(ids)} tokens: {pp:.1f} tokens/s | generation {n_gen} tokens: {tg:.1f} tokens/s | "
            f"sparsity {describe_sparsity(m)}")
    if m.sparsity:
        line += f" (measured {100 * st['overall']:.1f}%: prefill {100 * st['prefill']:.1f}%, decode {100 * st['decode']:.1f}%)"
    print(line, file=sys.stderr)
    return 0
