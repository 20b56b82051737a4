"""The tokenizer, written as llama.cpp's converter writes it.

- `tokenizer.model` present: SentencePiece ("llama" model): pieces, scores and token types from sentencepiece,
  added tokens from added_tokens.json / tokenizer_config.json.
- otherwise `tokenizer.json`: byte-level BPE ("gpt2" model): tokens from the `tokenizers` library (added tokens typed
  CONTROL or USER_DEFINED), merges, and the pre-tokenizer name llama.cpp recognises by hashing the token ids of a fixed
  probe text. An unknown hash is an error, as in llama.cpp (its runtime would pre-tokenize wrongly); name the
  pre-tokenizer explicitly (`tokenizer_pre=`) if you know it.
Special token ids, add_bos/add_eos and the chat template come from gguf-py's SpecialVocab in both cases.
"""

from __future__ import annotations

import json
from hashlib import sha256
from pathlib import Path

import gguf

# llama.cpp's probe text for BPE pre-tokenizers (convert_hf_to_gguf.py, get_vocab_base_pre).
PROBE = ('\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 '
         '33 333 3333 33333 333333 3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ '
         '------======= нещо на Български \'\'\'\'\'\'```````""""......!!!!!!?????? I\'ve been \'told he\'s there, '
         '\'RE you sure? \'M not sure I\'ll make it, \'D you like some tea? We\'Ve a\'lL')

# sha256 of str(token ids of PROBE) -> llama.cpp's pre-tokenizer name, for the families this converter supports
# (the values llama.cpp's convert_hf_to_gguf_update.py generated; https://github.com/ggml-org/llama.cpp/pull/6920).
KNOWN_PRE = {
    "0ef9807a4087ebef797fc749390439009c3b9eda9ad1a097abbe738f486c01e5": "llama-bpe",    # Meta-Llama-3
    "855059429035d75a914d1eda9f10a876752e281a054a7a3d421ef0533e5b6249": "smollm",       # SmolLM / SmolLM2
    "e636dc30a262dcc0d8c323492e32ae2b70728f4df7dfe9737d9f920a282b8aea": "qwen2",        # Qwen1.5 / 2 / 2.5
    "d4540891389ea895b53b399da6ac824becc30f2fba0e9ddbb98f92e55ca0e97c": "qwen2",        # Qwen3
    "63b97e4253352e6f357cc59ea5b583e3a680eaeaf2632188c2b952de2588485e": "tekken",       # Mistral Nemo
    "3ce83efda5659b07b1ad37ca97ca5797ea4285d9b9ab0dc679e4a720c9da7454": "gpt-2",        # GPT-2
}

SPIECE_UNDERLINE = "\u2581"


def tokenizer_kind(hf_dir: Path) -> str:
    """'llama' (SentencePiece), 'llama_hf' (SentencePiece-style BPE in tokenizer.json) or 'gpt2' (byte-level BPE);
    FileNotFoundError when the directory has no tokenizer."""
    if (hf_dir / "tokenizer.model").is_file():
        return "llama"
    if (hf_dir / "tokenizer.json").is_file():
        model = json.loads((hf_dir / "tokenizer.json").read_text(encoding="utf-8")).get("model", {})
        # a SentencePiece-style BPE saved as tokenizer.json (Llama 2, Mistral): llama.cpp reads it with LlamaHfVocab
        return "llama_hf" if model.get("type") == "BPE" and model.get("byte_fallback") else "gpt2"
    raise FileNotFoundError(f"no tokenizer in {hf_dir}: expected tokenizer.json (BPE) or tokenizer.model "
                            "(SentencePiece); save it next to the weights (tokenizer.save_pretrained(dir))")


def pre_tokenizer_name(tokenizer) -> str | None:
    """llama.cpp's name for a `tokenizers.Tokenizer`'s pre-tokenizer, or None if llama.cpp does not know it."""
    ids = tokenizer.encode(PROBE).ids
    return KNOWN_PRE.get(sha256(str(ids).encode()).hexdigest())


def write_vocab(w: gguf.GGUFWriter, hf_dir: Path, vocab_size: int | None, tokenizer_pre: str | None = None) -> str:
    """Writes the tokenizer keys; returns the kind written ('llama' or 'gpt2')."""
    kind = tokenizer_kind(hf_dir)
    config = _tokenizer_config(hf_dir)
    if kind == "llama":
        tokens, scores, types = _sentencepiece_vocab(hf_dir, vocab_size, config)
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        gguf.SpecialVocab(hf_dir, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
    elif kind == "llama_hf":
        vocab = gguf.LlamaHfVocab(hf_dir)
        tokens, scores, types = zip(*vocab.all_tokens())
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(list(tokens))
        w.add_token_scores(list(scores))
        w.add_token_types(list(types))
        gguf.SpecialVocab(hf_dir, n_vocab=len(tokens)).add_to_gguf(w, quiet=True)
        kind = "llama"
    else:
        tokens, types, pre = _bpe_vocab(hf_dir, vocab_size, tokenizer_pre)
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_types(types)
        gguf.SpecialVocab(hf_dir, load_merges=True).add_to_gguf(w, quiet=True)
    return kind


def _tokenizer_config(hf_dir: Path) -> dict:
    p = hf_dir / "tokenizer_config.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.is_file() else {}


def _looks_special(token: str) -> bool:
    # Added tokens some models leave un-flagged that llama.cpp still treats as control tokens.
    return (token in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (token.startswith("<|") and token.endswith("|>"))
            or (token.startswith("<unused") and token.endswith(">")))


def _bpe_vocab(hf_dir: Path, vocab_size: int | None, tokenizer_pre: str | None):
    # tokenizer.json through the `tokenizers` library, exactly as written: transformers' AutoTokenizer may swap in a
    # model-specific class that rebuilds the pre-tokenizer (transformers 5 does for qwen2), which is not the file.
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(hf_dir / "tokenizer.json"))
    vocab = tok.get_vocab(with_added_tokens=True)
    n = vocab_size or len(vocab)
    if max(vocab.values()) >= n:
        raise ValueError(f"tokenizer has token id {max(vocab.values())} but the model's vocab_size is {n}")
    pre = tokenizer_pre or pre_tokenizer_name(tok)
    if pre is None:
        raise ValueError("BPE pre-tokenizer not recognised (llama.cpp would refuse it too: its runtime would split "
                         "text differently from this tokenizer); if you know which llama.cpp pre-tokenizer it is, "
                         "pass it with --tokenizer-pre NAME")
    reverse = {i: t for t, i in vocab.items()}
    added = {a.content: (i, a) for i, a in tok.get_added_tokens_decoder().items()}
    tokens, types = [], []
    for i in range(n):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
            continue
        token = reverse[i]
        if token in added:
            info = added[token][1]
            # llama.cpp assumes control / user-defined tokens are pre-normalised
            if not info.normalized:
                token = tok.decode(tok.encode(token, add_special_tokens=False).ids, skip_special_tokens=False)
            if info.special or _looks_special(token):
                types.append(gguf.TokenType.CONTROL)
            else:
                token = token.replace(SPIECE_UNDERLINE, " ")
                types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(token)
    return tokens, types, pre


def _sentencepiece_vocab(hf_dir: Path, vocab_size: int | None, config: dict):
    try:
        from sentencepiece import SentencePieceProcessor
    except ImportError:
        raise RuntimeError("tokenizer.model is a SentencePiece model: pip install sentencepiece") from None
    sp = SentencePieceProcessor()
    sp.LoadFromFile(str(hf_dir / "tokenizer.model"))
    n = vocab_size or sp.vocab_size()
    tokens = [f"[PAD{i}]".encode() for i in range(n)]
    scores = [-10000.0] * n
    types = [gguf.TokenType.UNUSED] * n
    for i in range(min(n, sp.vocab_size())):
        tokens[i] = sp.IdToPiece(i).encode("utf-8")
        scores[i] = sp.GetScore(i)
        types[i] = (gguf.TokenType.UNKNOWN if sp.IsUnknown(i) else gguf.TokenType.CONTROL if sp.IsControl(i)
                    else gguf.TokenType.UNUSED if sp.IsUnused(i) else gguf.TokenType.BYTE if sp.IsByte(i)
                    else gguf.TokenType.NORMAL)
    added_file = hf_dir / "added_tokens.json"
    if added_file.is_file():
        for text, i in json.loads(added_file.read_text(encoding="utf-8")).items():
            if i < n:
                tokens[i], scores[i], types[i] = text.encode("utf-8"), -1000.0, gguf.TokenType.USER_DEFINED
    for key, data in config.get("added_tokens_decoder", {}).items():
        i, text = int(key), data["content"]
        if i >= n:
            continue
        if data.get("special") or _looks_special(text):
            types[i] = gguf.TokenType.CONTROL
        else:
            text = text.replace(SPIECE_UNDERLINE, " ")
            types[i] = gguf.TokenType.USER_DEFINED
        scores[i] = -1000.0
        tokens[i] = text.encode("utf-8")
    return tokens, scores, types
