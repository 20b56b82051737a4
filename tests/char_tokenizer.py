"""A byte-level tokenizer with the slice of the Hugging Face tokenizer interface pysparse's tasks use, so task
tests can run on the tiny random models of tests/tiny_models.py (vocab 128: ids 3..127 are ASCII 3..127)."""


class CharTokenizer:
    bos_token_id = 1
    eos_token_id = 2
    pad_token_id = 0
    add_bos_token = True

    def __call__(self, text, add_special_tokens=True):
        ids = [min(127, max(3, ord(c))) for c in text]
        return {"input_ids": ([self.bos_token_id] if add_special_tokens else []) + ids}

    def decode(self, ids):
        return "".join(chr(i) for i in ids if i >= 3)
