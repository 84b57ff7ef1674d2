"""A CLIP-layout byte-level BPE vocabulary learnt from captions, for a CLIP trained from scratch."""

import collections
import json
import os
import re

SPECIAL_TOKENS = ("<|startoftext|>", "<|endoftext|>")
# CLIP's pre-tokenizer (see clip_preprocessor.CLIP_WORDS) in Python's `re`: letters, single digits, symbols.
_WORDS = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d|[^\W\d_]+|\d|[^\s\w]+|_+")


def bytes_to_unicode():
    """GPT-2/CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(printable), 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


def write_bpe_vocabulary(folder, texts, num_merges=1000):
    """Learns BPE merges on `texts` and writes CLIP's `vocab.json` and `merges.txt` into `folder`.

    The vocabulary is laid out as CLIP's: the 256 byte symbols, the same
    with `</w>`, one token per merge, then the start and end tokens (the end
    token has the largest id, where CLIP pools the text). keras-hub's
    `CLIPTokenizer` and `transformers.CLIPTokenizer` read the files.

    Args:
        folder: where to write the two files (created if missing).
        texts: the captions to learn from.
        num_merges: at most this many merges (fewer when every word is one token).

    Returns:
        `(vocab.json path, merges.txt path)`.
    """
    table = bytes_to_unicode()
    words = collections.Counter()
    for text in texts:
        for word in _WORDS.findall(text.lower()):
            symbols = [table[b] for b in word.encode("utf-8")]
            words[tuple(symbols[:-1]) + (symbols[-1] + "</w>",)] += 1
    merges = []
    for _ in range(num_merges):
        pairs = collections.Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))
        merges.append(best)
        words = collections.Counter({_merge(word, best): count for word, count in words.items()})
    symbols = list(table.values())
    vocabulary = symbols + [s + "</w>" for s in symbols] + ["".join(pair) for pair in merges] + list(SPECIAL_TOKENS)
    vocabulary = list(dict.fromkeys(vocabulary))  # a merge may repeat a byte token
    os.makedirs(folder, exist_ok=True)
    vocab_path, merges_path = os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt")
    with open(vocab_path, "w", encoding="utf-8") as f:
        json.dump({token: index for index, token in enumerate(vocabulary)}, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    return vocab_path, merges_path


def _merge(word, pair):
    out, i = [], 0
    while i < len(word):
        if i + 1 < len(word) and (word[i], word[i + 1]) == pair:
            out.append(word[i] + word[i + 1])
            i += 2
        else:
            out.append(word[i])
            i += 1
    return tuple(out)
