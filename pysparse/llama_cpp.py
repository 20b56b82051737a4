"""llama.cpp as the reference for generation speed: dense tokens/s of the same GGUF through `llama-bench`, or through
`llama-cpp-python` when that is installed. pysparse never downloads or builds llama.cpp.

Where it is found, first match wins:
  1. a path given by the caller (the `--llama-bench` option),
  2. the environment variable LLAMA_BENCH,
  3. `llama-bench` on PATH,
  4. the `llama_cpp` module of llama-cpp-python.
A given path that is not an executable file is an error (raised before any long work); nothing found is not.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import time
from pathlib import Path

ENV = "LLAMA_BENCH"


def check_binary(path: str | Path) -> Path:
    p = Path(path).expanduser()
    if not p.is_file() or not os.access(p, os.X_OK):
        raise ValueError(f"llama.cpp: {p} is not an executable file (give the path of llama-bench)")
    return p


def find(path: str | Path | None = None) -> dict | None:
    """{'kind': 'llama-bench', 'path': ...} or {'kind': 'llama-cpp-python', 'version': ...}, or None."""
    if path:
        return {"kind": "llama-bench", "path": str(check_binary(path))}
    if os.environ.get(ENV):
        try:
            return {"kind": "llama-bench", "path": str(check_binary(os.environ[ENV]))}
        except ValueError as e:
            raise ValueError(f"{e} (from ${ENV})") from None
    which = shutil.which("llama-bench")
    if which:
        return {"kind": "llama-bench", "path": which}
    try:
        import llama_cpp
    except ImportError:
        return None
    if not hasattr(llama_cpp, "Llama"):  # some other module of that name
        return None
    return {"kind": "llama-cpp-python", "version": getattr(llama_cpp, "__version__", None)}


def exit_reason(returncode: int) -> str:
    """How a llama.cpp binary ended, for error messages (subprocess gives -N for a process killed by signal N)."""
    if returncode >= 0:
        return f"exit code {returncode}"
    hint = (" (SIGILL: an AMX build of llama.cpp does this in prefill on VMs that do not enable AMX)"
            if returncode == -4 else "")
    return f"killed by signal {-returncode}{hint}"


def generation_speed(ref: dict, gguf: str | Path, threads: int, tg: int, reps: int) -> dict:
    """Dense generation tokens/s of llama.cpp: {'tokens_per_s', 'stddev' or 'min'/'max', 'kind', 'build'}."""
    if ref["kind"] == "llama-bench":
        return _llama_bench(ref["path"], gguf, threads, tg, reps)
    return _llama_cpp_python(gguf, threads, tg, reps)


def _llama_bench(binary: str, gguf, threads: int, tg: int, reps: int) -> dict:
    cmd = [binary, "-m", str(gguf), "-p", "0", "-n", str(tg), "-t", str(threads), "-r", str(reps), "-o", "json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(f"llama-bench failed ({exit_reason(out.returncode)}): {out.stderr.strip()[-300:]}")
    rows = [r for r in json.loads(out.stdout) if r.get("n_gen")]
    if not rows:
        raise RuntimeError("llama-bench printed no generation row")
    r = rows[0]
    return {"kind": "llama-bench", "path": binary, "tokens_per_s": r["avg_ts"], "stddev": r["stddev_ts"],
            "build": r.get("build_commit"), "threads": threads, "tg": tg, "reps": reps}


def _llama_cpp_python(gguf, threads: int, tg: int, reps: int) -> dict:
    import llama_cpp

    llm = llama_cpp.Llama(model_path=str(gguf), n_threads=threads, n_ctx=max(tg + 8, 64), verbose=False)
    speeds = []
    for _ in range(reps + 1):  # the first run warms up (pages in the weights)
        llm.reset()
        tok = llm.token_bos()
        t0 = time.perf_counter()
        for _ in range(tg):
            llm.eval([tok])
            tok = int(llm.scores[llm.n_tokens - 1].argmax())
        speeds.append(tg / (time.perf_counter() - t0))
    speeds = speeds[1:]
    return {"kind": "llama-cpp-python", "version": getattr(llama_cpp, "__version__", None),
            "tokens_per_s": statistics.median(speeds), "min": min(speeds), "max": max(speeds),
            "threads": threads, "tg": tg, "reps": reps}
