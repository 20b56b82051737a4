"""`python -m pysparse.lmeval ...`: lm-eval's own command line with the `pysparse` model registered.

lm-eval 0.4.x looks models up in its registry only (no plugin entry points), so `lm-eval --model pysparse`
works only in a process that imported pysparse.lmeval first; this module is that process. Every lm-eval option
works as usual, e.g.

    python -m pysparse.lmeval run --model pysparse --model_args pretrained=smollm2-135m,p=0.9 \\
        --tasks pysparse_wikipedia_cloze --include_path ~/.cache/pysparse/lmeval/tasks --device cpu --limit 20
"""

from lm_eval.__main__ import cli_evaluate

from . import model  # noqa: F401  (registers "pysparse")

if __name__ == "__main__":
    cli_evaluate()
