"""Measures and saves this machine's read bandwidth (GB/s) per buffer size and thread count.

    PYTHONPATH=$PWD python bench/bandwidth.py [--sizes-mib 2 32 256] [--threads 1 2] [--reps 5]

Writes bench/results/bandwidth.json. Other benchmarks call common.machine_bandwidth() themselves so that their
GB/s figures sit next to a bandwidth measured in the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import MiB, machine_bandwidth, machine_info, print_table, save_json  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mib", type=float, nargs="+", default=[2, 32, 256], help="buffer sizes in MiB")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5, help="timed passes per point (median)")
    ap.add_argument("--out", default=None, help="results directory (default bench/results)")
    args = ap.parse_args(argv)

    rows = machine_bandwidth([int(s * MiB) for s in args.sizes_mib], args.threads, args.reps)
    info = machine_info()
    print(f"{info['cpu_model']}, ISA path {info.get('active_isa')}, flags {' '.join(info['cpu_flags'])}, "
          f"load {info.get('load_average')}")
    print_table(rows, ["mib", "threads", "gbps"], headers={"mib": "buffer MiB", "gbps": "read GB/s"},
                title="Read bandwidth (median of passes)")
    path = save_json("bandwidth", rows, args.out)
    print(f"\nsaved {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
