#!/usr/bin/env python3
"""tok_fixtures.py — small Hugging Face tokenizers, one per tokenizer.json feature real
Llama / Mistral / GPT-2 / Llama-3 checkpoints use, written from scratch (no downloaded files).

A BPE is trained here on a built-in corpus (plain pair counting, the most frequent pair
merged first), then written as tokenizer.json with the normalizer / pre-tokenizer / model
options / added tokens / post-processor of the family, plus tokenizer_config.json,
special_tokens_map.json and generation_config.json where the feature needs them.

  tok_fixtures.py make OUTDIR      one directory per fixture, and OUTDIR/expected.json:
                                   for each fixture the special ids transformers resolves
                                   (bos, eos, unk, pad, add_bos, stops), stated by hand from
                                   the files written, in transformers' order
  tok_fixtures.py list             the fixture names
"""
import collections
import json
import os
import sys

CORPUS = """Once upon a time, there was a little girl named Lily. She loved to play outside in the park.
One day, she saw a big red ball under the old tree. "Can I play with it?" she asked her mom.
Her mom smiled and said, "Yes, you can." Lily was very happy. They played until the sun went down.
The history of the region dates back to the 12th century , when the first settlers arrived .
In 1998 , the company reported revenues of $ 3.5 million ; its headquarters moved to New York .
= = Early life = =
He wasn't sure they'd come, but we're here and I'll stay. It's fine, isn't it? You've seen it.
Numbers like 12345 and 2024 appear, as do symbols: @ # % & * ( ) [ ] { } < > / \\ | ~ ` ^ + = - _
Café, naïve, über, déjà vu — and “quotes” and ‘single’ ones…
"""

BYTE_ALPHABET = None


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


def train(words, base, n_merges):
    """words: list of symbol lists (each symbol a vocab string); returns (vocab list, merges)."""
    vocab = list(dict.fromkeys(base))
    seen = set(vocab)
    counts = collections.Counter(tuple(w) for w in words)
    words = {w: c for w, c in counts.items()}
    merges = []
    for _ in range(n_merges):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        m = best[0] + best[1]
        if m not in seen:
            seen.add(m)
            vocab.append(m)
        nw = {}
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(m)
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            nw[tuple(out)] = nw.get(tuple(out), 0) + c
        words = nw
    return vocab, merges


def added(i, content, special=True, normalized=False, lstrip=False, rstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def template(tok, tid):
    return {"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": tok, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {tok: {"id": tok, "ids": [tid], "tokens": [tok]}}}


LLAMA_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "}, {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
GPT2_RE = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
LLAMA3_RE = ("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*"
             "|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+")


def sp_model(specials, byte_tokens, chars_from, n_merges, extra_alias=None, complete=False):
    """A SentencePiece-style BPE ("▁" for spaces): specials first, then <0xXX> (when
    byte_tokens), the characters of chars_from, then the merges' results.  complete: the
    merges rewritten as transformers converts a SentencePiece BPE model: every split of a
    piece into two pieces, ordered by the piece's id (its score)."""
    text = chars_from.replace(" ", "\u2581")
    words = [list("\u2581" + w) for w in chars_from.split()]
    base = list(specials) + (["<0x%02X>" % b for b in range(256)] if byte_tokens else [])
    base += sorted(set(text) - {"\n"}) + ["\u2581"]
    vocab, merges = train(words, base, n_merges)
    v = {s: i for i, s in enumerate(vocab)}
    if extra_alias:  # several strings mapping to one id
        for s, target in extra_alias.items():
            v[s] = v[target]
    if complete:
        merges = [(p[:k], p[k:]) for p in vocab for k in range(1, len(p)) if p[:k] in v and p[k:] in v]
    return v, [a + " " + b for a, b in merges]


def bl_model(specials_after, n_merges, regex_words):
    """A byte-level BPE: the 256 byte characters, merges trained on the regex words."""
    bu = bytes_to_unicode()
    words = [[bu[b] for b in w.encode("utf-8")] for w in regex_words]
    base = [bu[b] for b in range(256)]
    vocab, merges = train(words, base, n_merges)
    v = {s: i for i, s in enumerate(vocab)}
    return v, [[a, b] for a, b in merges]


def gpt2_words(text):
    import re
    # close enough for training data (the merges only need to be plausible)
    return re.findall(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?[^\s\w]+|\s+(?!\S)|\s+", text)


def tokenizer_json(model, normalizer, pre, decoder, post, added_tokens):
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added_tokens,
            "normalizer": normalizer, "pre_tokenizer": pre, "post_processor": post, "decoder": decoder, "model": model}


def bpe(vocab, merges, **kw):
    m = {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
         "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False}
    m.update(kw)
    m["vocab"], m["merges"] = vocab, merges
    return m


def fixtures():
    """name -> (files {name: object}, expected special ids)"""
    F = {}
    sp_norm = {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                   {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]}
    # 1. Llama 2 / TinyLlama: Prepend + Replace, byte fallback, <unk> <s> </s>, a non-special
    #    added token with lstrip, two spellings of one id (’ -> ')
    v, m = sp_model(["<unk>", "<s>", "</s>"], True, CORPUS, 300, {"\u2019": "'"})
    mask = len(v) + 1  # a hole before it: ids need not be dense
    at = [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>"), added(mask, "<mask>", special=False, lstrip=True)]
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True), sp_norm, None, LLAMA_DECODER,
                        template("<s>", 1), at)
    F["llama2"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
        "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None, "legacy": True}},
        dict(bos=1, eos=2, unk=0, pad=-1, add_bos=1, stops=[2]))
    # 2. the checkpoint: byte_fallback true but no byte tokens (-> unk, as HF does),
    #    special tokens with other names, eos overridden by special_tokens_map.json (legacy
    #    tokenizer_config.json without "added_tokens_decoder"), stops from
    #    generation_config.json (a list)
    v, m = sp_model(["<unk>", "<|bos|>", "<|eos|>", "<|end|>", "<|pad|>"], False, CORPUS, 200)
    at = [added(i, s) for i, s in enumerate(["<unk>", "<|bos|>", "<|eos|>", "<|end|>", "<|pad|>"])]
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True), sp_norm, None, LLAMA_DECODER,
                        template("<|bos|>", 1), at)
    F["nobytes"] = ({"tokenizer.json": tj,
                     "tokenizer_config.json": {"tokenizer_class": "LlamaTokenizer", "bos_token": {"content": "<|bos|>"},
                                               "eos_token": "<|eos|>", "unk_token": "<unk>", "pad_token": "<|pad|>",
                                               "add_bos_token": True},
                     "special_tokens_map.json": {"bos_token": "<|bos|>", "eos_token": {"content": "<|end|>"},
                                                 "unk_token": "<unk>"},
                     "generation_config.json": {"bos_token_id": 1, "eos_token_id": [3, 2]}},
                    dict(bos=1, eos=3, unk=0, pad=4, add_bos=1, stops=[3, 2]))
    # 3. no byte fallback: unknown characters -> <unk>, not fused; add_bos_token false
    v, m = sp_model(["<unk>", "<s>", "</s>"], False, CORPUS, 200)
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=False, byte_fallback=False), sp_norm, None, LLAMA_DECODER,
                        template("<s>", 1), [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")])
    F["nofallback"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "LlamaTokenizerFast", "add_bos_token": False}},
        dict(bos=1, eos=2, unk=0, pad=-1, add_bos=0, stops=[2]))
    # 4. Mistral v3 style: no normalizer, Metaspace(prepend_scheme first, split false); the
    #    stops from config.json (no generation_config.json)
    v, m = sp_model(["<unk>", "<s>", "</s>", "[INST]", "[/INST]"], True, CORPUS, 250)
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True), None,
                        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
                        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": False},
                        template("<s>", 1), [added(i, s) for i, s in enumerate(["<unk>", "<s>", "</s>", "[INST]", "[/INST]"])])
    #    tokenizer_config.json with "added_tokens_decoder" (transformers >= 4.34): its
    #    special_tokens_map.json is not read, so its eos [/INST] does not count
    F["metaspace_first"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "LlamaTokenizer", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "added_tokens_decoder": {str(a["id"]): {k: v for k, v in a.items() if k != "id"} for a in tj["added_tokens"]}},
        "special_tokens_map.json": {"eos_token": "[/INST]"},
        "config.json": {"eos_token_id": 2, "bos_token_id": 1}},
        dict(bos=1, eos=2, unk=0, pad=-1, add_bos=1, stops=[2]))
    # 5. older Llama tokenizer.json: Metaspace(add_prefix_space true, split true); no
    #    tokenizer_config.json (the family's defaults, BOS from the template)
    v, m = sp_model(["<unk>", "<s>", "</s>"], True, CORPUS, 250)
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True), None,
                        {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
                        {"type": "Metaspace", "replacement": "\u2581", "add_prefix_space": True},
                        template("<s>", 1), [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")])
    F["metaspace_split"] = ({"tokenizer.json": tj}, dict(bos=1, eos=2, unk=0, pad=-1, add_bos=1, stops=[2]))
    # 5b. a SentencePiece BPE as transformers converts one (Llama 2 / TinyLlama): every split of
    #    a piece into two pieces is a merge, ranked by the piece's id; what GGUF's "llama"
    #    vocabulary (pieces + scores) expresses exactly (gguf.sh runs it in llama.cpp)
    v, m = sp_model(["<unk>", "<s>", "</s>"], True, CORPUS, 300, complete=True)
    tj = tokenizer_json(bpe(v, m, unk_token="<unk>", fuse_unk=True, byte_fallback=True), sp_norm, None, LLAMA_DECODER,
                        template("<s>", 1), [added(0, "<unk>"), added(1, "<s>"), added(2, "</s>")])
    F["llama_sp"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "LlamaTokenizer", "add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
        "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None, "legacy": True}},
        dict(bos=1, eos=2, unk=0, pad=-1, add_bos=1, stops=[2]))
    # 6. GPT-2: ByteLevel with its regex, <|endoftext|> (normalized true, as GPT-2's file)
    v, m = bl_model(None, 300, gpt2_words(CORPUS))
    eot = len(v)
    tj = tokenizer_json(bpe(v, m), None, {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True,
                                          "use_regex": True},
                        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
                        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                        [added(eot, "<|endoftext|>", normalized=True)])
    F["gpt2"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "GPT2Tokenizer", "bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>", "add_prefix_space": False}},
        dict(bos=eot, eos=eot, unk=eot, pad=-1, add_bos=0, stops=[eot]))
    # 7. GPT-2's regex as a Split step, then ByteLevel(add_prefix_space, no regex)
    tj = tokenizer_json(bpe(v, m), None, {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": GPT2_RE}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": False}]},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}, None,
        [added(eot, "<|endoftext|>")])
    F["gpt2_split"] = ({"tokenizer.json": tj}, dict(bos=eot, eos=eot, unk=-1, pad=-1, add_bos=0, stops=[eot]))
    # 8. Llama 3: Split by its regex + ByteLevel(no regex), ignore_merges, specials by other
    #    names, BOS from the post-processor template, stops [end_of_text, eot_id]
    v, m = bl_model(None, 300, gpt2_words(CORPUS))
    n = len(v)
    sp = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|eot_id|>"]
    at = [added(n + i, s) for i, s in enumerate(sp)] + [added(n + 4, "<tool>", special=False)]
    tj = tokenizer_json(bpe(v, m, ignore_merges=True), None, {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_RE}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        {"type": "Sequence", "processors": [{"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                                             "use_regex": True}, template("<|begin_of_text|>", n)]}, at)
    F["llama3"] = ({"tokenizer.json": tj, "tokenizer_config.json": {
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"},
        "generation_config.json": {"bos_token_id": n, "eos_token_id": [n + 1, n + 3]}},
        dict(bos=n, eos=n + 1, unk=-1, pad=-1, add_bos=1, stops=[n + 1, n + 3]))
    return F


# Features quant refuses, each with the words its error must contain.
REFUSED = {
    "nfkc": ({"normalizer": {"type": "NFKC"}}, "normalizer 'NFKC' is not supported"),
    "replace_regex": ({"normalizer": {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}},
                      "normalizer Replace with a Regex pattern"),
    "whitespace": ({"pre_tokenizer": {"type": "Whitespace"}}, "pre-tokenizer 'Whitespace' is not supported"),
    "digits": ({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True}]}},
               "pre-tokenizer 'Digits' is not supported"),
    "split_other": ({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\d+"}, "behavior": "Isolated",
                                       "invert": False}}, "pre-tokenizer Split with pattern '\\d+'"),
    "split_merged": ({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": GPT2_RE}, "behavior": "MergedWithPrevious",
                                        "invert": False}}, "behavior 'MergedWithPrevious'"),
    "bert_post": ({"post_processor": {"type": "BertProcessing", "sep": ["</s>", 2], "cls": ["<s>", 1]}},
                  "post-processor 'BertProcessing' is not supported"),
    "dropout": ({"model.dropout": 0.1}, "BPE dropout 0.1 is not supported"),
    "suffix": ({"model.end_of_word_suffix": "</w>"}, "BPE end_of_word_suffix '</w>' is not supported"),
    "single_word": ({"added_tokens": [added(0, "<unk>"), dict(added(1, "<s>"), single_word=True)]},
                    "added token '<s>' has single_word true"),
    "unigram": ({"model.type": "Unigram"}, "model 'Unigram' (only BPE"),
    "bad_bos": ({"tokenizer_config.json": {"bos_token": "<nope>"}}, "tokenizer_config.json: bos_token '<nope>' is not in"),
}


def write_dir(d, files):
    os.makedirs(d, exist_ok=True)
    for name, obj in files.items():
        with open(os.path.join(d, name), "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=None)


def main(argv):
    if len(argv) == 2 and argv[0] == "make":
        out = argv[1]
        F = fixtures()
        exp = {}
        for name, (files, e) in F.items():
            write_dir(os.path.join(out, name), files)
            exp[name] = e
        base = F["llama2"][0]
        for name, (change, needle) in REFUSED.items():
            files = json.loads(json.dumps(base))
            tj = files["tokenizer.json"]
            for k, v in change.items():
                if k.startswith("model."):
                    tj["model"][k[6:]] = v
                elif k.endswith(".json"):
                    files[k] = dict(files.get(k, {}), **v)
                else:
                    tj[k] = v
            write_dir(os.path.join(out, "refuse_" + name), files)
            exp["refuse_" + name] = {"error": needle}
        with open(os.path.join(out, "expected.json"), "w") as f:
            json.dump(exp, f, indent=1)
    elif argv == ["list"]:
        print(" ".join(fixtures()))
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
