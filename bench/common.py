"""Shared benchmark helpers: timing, the machine's read bandwidth, machine info, JSON results, tables.

These machines are shared and noisy: time with medians of repeats, interleave the variants being compared so drift
hits all of them alike, and report speed as ratios measured side by side in one run.

Scripts in bench/ import this as `from common import ...` (bench/ is on sys.path when a script there runs) or as
`bench.common` from the repository root.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
MiB = 1 << 20

# CPU flags worth recording next to a figure (x86 /proc/cpuinfo names; aarch64 reports asimd etc.).
FLAGS_OF_INTEREST = ("sse4_2", "avx", "avx2", "fma", "f16c", "bmi2", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                     "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16",
                     "asimd", "asimddp", "sve", "i8mm")


# ---------------------------------------------------------------- timing

def _run_for(fn: Callable[[], object], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n


def calibrate(fn: Callable[[], object], min_time: float) -> int:
    """Calls per timed sample so one sample lasts at least min_time seconds."""
    n = 1
    while True:
        dt = _run_for(fn, n) * n
        if dt >= min_time or n >= 1 << 24:
            return n
        n = max(n * 2, int(n * min_time / max(dt, 1e-9) * 1.2))


def time_fn(fn: Callable[[], object], min_time: float = 0.02, repeats: int = 7, warmup: int = 2) -> float:
    """Median seconds per call of fn(): `warmup` untimed calls, then `repeats` samples of >= min_time seconds."""
    for _ in range(warmup):
        fn()
    n = calibrate(fn, min_time)
    return statistics.median(_run_for(fn, n) for _ in range(repeats))


def compare(variants: Mapping[str, Callable[[], object]], min_time: float = 0.02, repeats: int = 7,
            warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each variant, measured interleaved: every round times one sample of each variant,
    in an order rotated from round to round, so slow drift of the machine (other jobs, frequency) hits all alike."""
    names = list(variants)
    for name in names:
        for _ in range(warmup):
            variants[name]()
    calls = {name: calibrate(variants[name], min_time) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            samples[name].append(_run_for(variants[name], calls[name]))
    return {name: statistics.median(s) for name, s in samples.items()}


def gbps(nbytes: float, seconds: float) -> float:
    """Bytes per second in GB/s (1e9)."""
    return nbytes / seconds / 1e9


# ---------------------------------------------------------------- machine

def machine_bandwidth(sizes: Sequence[int] = (2 * MiB, 32 * MiB, 256 * MiB), threads: Sequence[int] = (1, 2),
                      reps: int = 5) -> list[dict]:
    """The machine's read bandwidth (pysparse._core.measure_read_bandwidth) for each buffer size and thread count:
    [{"bytes", "mib", "threads", "gbps"}]. Sizes cover L2, L3 (part of it on a VM) and DRAM."""
    from pysparse import _core

    rows = []
    for size in sizes:
        for t in threads:
            rows.append({"bytes": int(size), "mib": size / MiB, "threads": int(t),
                         "gbps": _core.measure_read_bandwidth(int(size), int(t), int(reps))})
    return rows


def bandwidth_lookup(table: Iterable[Mapping], nbytes: int, threads: int) -> float | None:
    """The measured bandwidth for the smallest probed size >= nbytes (else the largest) at `threads`."""
    rows = sorted((r for r in table if r["threads"] == threads), key=lambda r: r["bytes"])
    if not rows:
        return None
    for r in rows:
        if r["bytes"] >= nbytes:
            return r["gbps"]
    return rows[-1]["gbps"]


def llc_bytes() -> int | None:
    """Size of the last-level cache in bytes, from sysfs (/sys/devices/system/cpu/cpu0/cache/index*/: the
    highest-level data or unified cache); None where sysfs does not say (then the benches assume 64 MiB)."""
    best = None
    for d in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = int((d / "level").read_text())
            kind = (d / "type").read_text().strip()
            size = (d / "size").read_text().strip()
        except (OSError, ValueError):
            continue
        if kind not in ("Data", "Unified"):
            continue
        m = re.fullmatch(r"(\d+)([KMG]?)", size)
        if not m:
            continue
        nbytes = int(m.group(1)) * {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[m.group(2)]
        if best is None or level > best[0] or (level == best[0] and nbytes > best[1]):
            best = (level, nbytes)
    return best[1] if best else None


def dram_copies(nbytes: int, factor: float = 2.0, llc: int | None = None) -> int:
    """How many copies of an nbytes operand to cycle through so that together they exceed `factor` times the
    last-level cache: each call then reads its operand from DRAM, not from cache (a 25 MB matrix fits a 32 MiB
    L3, and timing it again and again measures the cache)."""
    llc = llc or llc_bytes() or 64 * MiB
    return max(1, -(-int(factor * llc) // max(int(nbytes), 1)))


class CacheFlush:
    """A callable that reads a buffer of `factor` x the last-level cache, evicting whatever an operation touched
    before: call it (untimed) before each timed call so that the operation reads its operands from DRAM, as a
    model's decode step does (about a gigabyte of other weights passes between two visits of one matrix). Cycling
    copies instead is not enough when several operations share a copy back to back: the first brings it into the
    cache and the others then time the cache."""

    def __init__(self, factor: float = 3.0, llc: int | None = None):
        import numpy as np

        llc = llc or llc_bytes() or 64 * MiB
        self.buf = np.ones(int(factor * llc) // 8, dtype=np.uint64)

    def __call__(self):
        self.buf.max()


class Cycle:
    """A callable that calls fns[0], fns[1], ... in turn (the same operation on different copies of its data)."""

    def __init__(self, fns: Sequence[Callable[[], object]]):
        self.fns, self.i = list(fns), 0

    def __call__(self):
        f = self.fns[self.i]
        self.i = (self.i + 1) % len(self.fns)
        return f()


def dram_bandwidth(threads: Sequence[int] = (1, 2), reps: int = 5) -> list[dict]:
    """The read bandwidth from DRAM: machine_bandwidth at a buffer of 8x the last-level cache (at least 256 MiB)."""
    llc = llc_bytes() or 64 * MiB
    return machine_bandwidth(sizes=(max(256 * MiB, 8 * llc),), threads=threads, reps=reps)


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        for key in ("model name", "Hardware", "CPU part"):
            m = re.search(rf"^{key}\s*:\s*(.+)$", text, re.M)
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    m = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    have = set(m.group(1).split()) if m else set()
    return [f for f in FLAGS_OF_INTEREST if f in have]


def git_commit(path: Path = ROOT) -> str | None:
    """HEAD of the repository at path, with '-dirty' if the work tree has changes; None outside git."""
    try:
        head = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(path), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    """What a figure depends on: CPU, flags, the engine's ISA path and threads, commit, date, versions."""
    info = {
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "llc_bytes": llc_bytes(),
        "machine": platform.machine(),
        "system": platform.platform(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "date_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        with open("/proc/loadavg") as f:
            info["load_average"] = [float(x) for x in f.read().split()[:3]]
    except OSError:
        pass
    try:
        import numpy

        info["numpy"] = numpy.__version__
        from pysparse import _core

        info["active_isa"] = _core.active_isa()
        info["supported_isas"] = list(_core.supported_isas())
        if hasattr(_core, "cpu_features"):
            info["cpu_features"] = dict(_core.cpu_features())  # optional features, and whether in use
        info["engine_threads"] = _core.num_threads()
        info["env"] = {k: v for k, v in os.environ.items()
                       if k in ("PYSPARSE_ISA", "PYSPARSE_NUM_THREADS", "PYSPARSE_NO_VNNI")}
    except ImportError as e:  # the engine not built: still record the machine
        info["engine"] = f"unavailable: {e}"
    return info


# ---------------------------------------------------------------- results

def save_json(name: str, results: object, results_dir: Path | str | None = None, extra: Mapping | None = None) -> Path:
    """Writes {"name", "machine": machine_info(), **extra, "results"} to <results_dir>/<name>.json atomically
    (a temporary file in the same directory, then os.replace), so a reader never sees a half-written file."""
    out_dir = Path(results_dir) if results_dir is not None else RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise ValueError(f"result name {name!r} must be a plain file name ([A-Za-z0-9_.-])")
    payload = {"name": name, "machine": machine_info(), **(dict(extra) if extra else {}), "results": results}
    path = out_dir / f"{name}.json"
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(payload, f, indent=1, default=_json_default)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _json_default(o):
    if hasattr(o, "tolist"):  # numpy scalars and arrays
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------- tables

def format_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, floatfmt: str = ".3g",
                 headers: Mapping[str, str] | None = None) -> str:
    """A markdown table of dict rows (columns default to the first row's keys; missing cells are blank)."""
    if not rows:
        return "(no rows)"
    columns = list(columns or rows[0].keys())
    headers = headers or {}

    def cell(v):
        if v is None:
            return ""
        if isinstance(v, float):
            return format(v, floatfmt)
        return str(v)

    body = [[cell(r.get(c)) for c in columns] for r in rows]
    head = [headers.get(c, c) for c in columns]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    numeric = [all(_is_number(r.get(c)) for r in rows if r.get(c) is not None) for c in columns]

    def line(cells):
        return "| " + " | ".join(c.rjust(w) if num else c.ljust(w) for c, w, num in zip(cells, widths, numeric)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if num else ("-" * (w + 2)) for w, num in zip(widths, numeric)) + "|"
    return "\n".join([line(head), sep, *(line(b) for b in body)])


def print_table(rows: Sequence[Mapping], columns: Sequence[str] | None = None, floatfmt: str = ".3g",
                headers: Mapping[str, str] | None = None, title: str | None = None) -> None:
    if title:
        print(f"\n{title}")
    print(format_table(rows, columns, floatfmt, headers))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
