#!/usr/bin/env python3
"""bpe_train.py — a tiny GPT-2 style byte-level BPE tokenizer.json (256 bytes + 255 merges learned greedily from
TEXT + <|endoftext|> = 512 ids), so a random GPT-2 with vocabulary 512 (llm_ref.py make --vocab 512) can read
TinyStories text in ptq-llm fixtures.  usage: bpe_train.py TEXT OUT.json"""
import json, re, sys, collections
def b2u():
    bs = list(range(ord("!"), ord("~")+1)) + list(range(ord("¡"), ord("¬")+1)) + list(range(ord("®"), ord("ÿ")+1))
    cs = bs[:]; n = 0
    for b in range(256):
        if b not in bs: bs.append(b); cs.append(256+n); n += 1
    return dict(zip(bs, map(chr, cs)))
m = b2u()
text = open(sys.argv[1], encoding="utf-8").read()[:300000]
words = re.findall(r"'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+", text)
cnt = collections.Counter("".join(m[b] for b in w.encode()) for w in words)
seqs = {w: list(w) for w in cnt}
vocab = {m[b]: i for i, b in enumerate(range(256))}
merges = []
while len(vocab) < 511:
    pc = collections.Counter()
    for w, c in cnt.items():
        s = seqs[w]
        for a, b in zip(s, s[1:]): pc[(a, b)] += c
    (a, b), _ = pc.most_common(1)[0]
    merges.append(a + " " + b); vocab[a + b] = len(vocab)
    for w in cnt:
        s = seqs[w]; i = 0; out = []
        while i < len(s):
            if i + 1 < len(s) and s[i] == a and s[i+1] == b: out.append(a + b); i += 2
            else: out.append(s[i]); i += 1
        seqs[w] = out
vocab["<|endoftext|>"] = 511
json.dump({"model": {"type": "BPE", "vocab": vocab, "merges": merges}, "pre_tokenizer": {"type": "ByteLevel"},
           "added_tokens": [{"id": 511, "content": "<|endoftext|>", "special": True}]}, open(sys.argv[2], "w"))
print(len(vocab), len(merges))
