"""The data registry against the real PyPI artifacts (small wheels; the default cache is reused when present)."""

import shutil

import pytest

from pysparse import data
from pysparse.artifacts import ArtifactError


def test_wikipedia_is_clean_prose_with_deterministic_disjoint_splits():
    docs = data.load("wikipedia", progress=False)
    assert len(docs) >= 80
    text = " ".join(d["text"] for d in docs)
    for markup in ("[[", "]]", "{{", "}}", "<ref", "&lt;", "'''"):
        assert markup not in text, markup
    ev, cal = data.split_docs(docs, "eval"), data.split_docs(docs, "calib")
    assert {d["title"] for d in ev}.isdisjoint({d["title"] for d in cal})
    assert len(ev) + len(cal) == len(docs) and len(cal) >= 10
    assert [d["title"] for d in data.split_docs(docs, "eval")] == [d["title"] for d in ev]


def test_analogies_and_their_sha():
    recs = data.load("analogies", progress=False)
    assert len(recs) == 19544
    assert recs[0] == {"section": "capital-common-countries", "a": "Athens", "b": "Greece", "c": "Baghdad",
                       "d": "Iraq"}
    assert len({r["section"] for r in recs}) == 14


def test_fetch_into_a_fresh_cache_and_detect_corruption(tmp_path, monkeypatch):
    monkeypatch.setenv("PYSPARSE_CACHE", str(tmp_path))
    assert not data.is_cached("gpqa")
    recs = data.load("gpqa", progress=False)
    assert data.is_cached("gpqa")
    assert len(recs) == 198 and all(len(r["choices"]) == 4 and 0 <= r["label"] < 4 for r in recs)
    assert recs == data.load("gpqa", progress=False)  # fixed-seed shuffle
    gsm = data.load("gsm8k", progress=False)  # same wheel: no second download needed
    assert len(gsm) == 1319 and "####" in gsm[0]["answer"]
    (path,) = data.fetch("gpqa", progress=False)
    path.write_bytes(path.read_bytes()[:-10] + b"corrupted!")
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        data.fetch("gpqa", progress=False)


def test_local_files_and_bad_names(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'wikipediaa'.*wikipedia"):
        data.load("wikipediaa")
    with pytest.raises(FileNotFoundError):
        data.load(str(tmp_path / "missing.txt"))
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n")
    with pytest.raises(ValueError, match="empty"):
        data.load(str(empty))
    mc = tmp_path / "mc.jsonl"
    mc.write_text('{"context": "2+2=", "choices": [" 4", " 5"], "label": 0}\n\n')
    assert data.load(str(mc)) == [{"context": "2+2=", "choices": [" 4", " 5"], "label": 0}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"context": \n')
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        data.load(str(bad))
    with pytest.raises(ValueError, match="BIG-bench task name"):
        data.spec("bigbench:../etc")


def test_bigbench_task_json_loader(tmp_path):
    p = tmp_path / "task.json"
    p.write_text('{"examples": [{"input": "Is fire cold?", "target_scores": {"yes": 0, "no": 1}}], '
                 '"task_prefix": "Answer.\\n"}')
    (r,) = data.load_bigbench(p)
    assert r["choices"] == [" yes", " no"] and r["label"] == 1 and "Is fire cold?" in r["context"]


def test_shakespeare_plays():
    docs = data.load("shakespeare", progress=False)
    assert len(docs) == 38
    assert any("Hamlet" in d["text"] or d["title"] == "hamlet" for d in docs)
    assert not any("**" in d["text"] for d in docs)


def test_clean_wikitext():
    t = data.clean_wikitext("{{Infobox x|a=1}}'''Anarchism''' is a [[political philosophy|philosophy]] that "
                            "advocates self-governed societies<ref>Smith 2001</ref> based on voluntary "
                            "institutions. [[Category:Politics]]\n== History ==\n")
    assert t.startswith("Anarchism is a philosophy that advocates self-governed societies based on")
    assert "Category" not in t and "History" not in t and "Smith" not in t


del shutil
