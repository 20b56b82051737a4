#!/usr/bin/env python3
"""Convert a Hugging Face checkpoint to GGUF: the same code as `pysparse convert` (pysparse.convert).

    python tools/convert_hf_to_gguf.py HF_DIR -o OUT.gguf --type Q4_K_M
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pysparse.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["convert", *sys.argv[1:]]))
