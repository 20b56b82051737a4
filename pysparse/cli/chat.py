"""`pysparse chat MODEL`: an interactive terminal chat on the engine, with the model's chat template."""

from __future__ import annotations

import sys
import time

from ._engine import add_engine_args, describe_sparsity, load_engine, parse_sparsity

HELP = "chat with a model in the terminal (chat template, history kept; /reset, /sparsity, /stats, /quit)"

COMMANDS = """commands:
  /reset                          forget the conversation
  /sparsity SITE RULE VALUE       switch FFN sparsity live, e.g. /sparsity input top_p 0.9
  /sparsity off                   back to dense
  /stats                          sparsity measured since the last switch
  /quit                           leave (also Ctrl-D)"""


def register(p):
    add_engine_args(p)
    p.add_argument("-n", "--max-new-tokens", type=int, default=512, help="longest reply in tokens (default 512)")
    p.add_argument("--temperature", type=float, default=0.7, help="sampling temperature (default 0.7; 0 = greedy)")
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling mass (default 0.9)")
    p.add_argument("--top-k", type=int, default=40, help="sample among the k most likely tokens (default 40)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--system", default=None, help="a system message to start the conversation with")


def handle_command(m, line: str, history: list) -> bool:
    """Runs a /command; returns False to quit."""
    parts = line.split()
    cmd = parts[0]
    if cmd in ("/quit", "/exit"):
        return False
    if cmd == "/reset":
        del history[:]
        print("[conversation cleared]")
    elif cmd == "/sparsity":
        if parts[1:] == ["off"]:
            m.clear_sparsity()
        elif len(parts) == 4:
            m.set_sparsity(*parse_sparsity(":".join(parts[1:])))
        else:
            print("usage: /sparsity SITE RULE VALUE | /sparsity off")
            return True
        print(f"[sparsity: {describe_sparsity(m)}]")
    elif cmd == "/stats":
        st = m.stats()
        print(f"[{describe_sparsity(m)}: measured {st['overall']:.3f} (decode {st['decode']:.3f})]")
    else:
        print(COMMANDS)
    return True


def run(args):
    m, _ = load_engine(args)
    tok = m.tokenizer
    eos = {tok.eos_token_id} if tok.eos_token_id is not None else set()
    for special in ("<|im_end|>", "<end_of_turn>", "<|eot_id|>"):
        tid = tok.convert_tokens_to_ids(special)
        if isinstance(tid, int) and tid != tok.unk_token_id:
            eos.add(tid)
    history: list[dict] = [] if not args.system else [{"role": "system", "content": args.system}]
    print(f"{m}\nsparsity {describe_sparsity(m)}. Type /help for commands.")
    while True:
        try:
            line = input("> ").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not line:
            continue
        if line.startswith("/"):
            try:
                if not handle_command(m, line, history):
                    return 0
            except ValueError as e:
                print(f"[error: {e}]")
            continue
        history.append({"role": "user", "content": line})
        ids = m.chat_prompt(history)
        n_gen, shown = 0, ""
        t0 = time.perf_counter()
        try:
            for _, piece in m.stream(ids, args.max_new_tokens, args.temperature, args.top_k, args.top_p, args.seed,
                                     eos):
                n_gen += 1
                shown += piece
                sys.stdout.write(piece)
                sys.stdout.flush()
        except KeyboardInterrupt:
            sys.stdout.write(" [stopped]")
        dt = time.perf_counter() - t0
        print(f"\n[{n_gen} tokens, {n_gen / dt:.1f} tokens/s incl. prompt, {describe_sparsity(m)}]")
        history.append({"role": "assistant", "content": shown})
