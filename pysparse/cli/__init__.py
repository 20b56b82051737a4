"""The `pysparse` command line. Each subcommand is one module in this package with:

    HELP = "one line for the command list"
    def register(parser: argparse.ArgumentParser) -> None   # add arguments
    def run(args: argparse.Namespace) -> int | None          # do it; return an exit code

Modules are found automatically, so adding a command means adding a file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="pysparse",
        description="Measure training-free activation sparsity of LLM FFNs and run it fast on CPUs.",
    )
    parser.add_argument("--version", action="version", version=f"pysparse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        p = sub.add_parser(info.name.replace("_", "-"), help=mod.HELP, description=mod.HELP)
        mod.register(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted; results written so far are kept", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, RuntimeError) as e:  # user-facing errors: one clear line, no traceback
        print(f"pysparse {args.command}: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
