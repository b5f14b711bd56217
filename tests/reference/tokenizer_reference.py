#!/usr/bin/python3
"""Writes tests/golden/tokenizer_reference.json: prompts through an independent Python model of
SD1's text side (../shared/spec/tokenizer-and-prompts.md), for the C tokenizer/prompt tests.

The Unicode behaviour comes from Python itself, as in the webui: the `regex` module (Debian
python3-regex) for the pre-tokenizer and whitespace_clean, str.lower(), unicodedata NFC (standing
in for ftfy.fix_text, as vktrain documents), and Python's `re` for the emphasis grammar. The BPE
loop, the emphasis parser and the chunking are written here from the spec, not copied.
First it checks itself against every case of tests/golden/tokenizer_visible.json.

    /usr/bin/python3 tests/reference/tokenizer_reference.py   # rewrites tests/golden/tokenizer_reference.json
"""
import gzip
import json
import os
import random
import re
import sys
import unicodedata

import regex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VOCAB = os.path.join(ROOT, "assets/clip/bpe_simple_vocab_16e6.txt.gz")
BOS, EOS, COMMA = 49406, 49407, 267


class Tokenizer:
    def __init__(self, path):
        lines = gzip.open(path).read().decode("utf-8").split("\n")[1:48895]
        merges = [tuple(l.split()) for l in lines]
        printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        order = printable + [b for b in range(256) if b not in printable]
        self.byte_sym = {}
        n = 0
        for b in range(256):
            if b in printable:
                self.byte_sym[b] = chr(b)
            else:
                self.byte_sym[b] = chr(256 + n)
                n += 1
        vocab = [self.byte_sym[b] for b in order]
        vocab += [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        self.id = {v: i for i, v in enumerate(vocab)}
        self.rank = {m: i for i, m in enumerate(merges)}
        self.inv = {i: m for m, i in self.rank.items()}
        self.pat = regex.compile(
            r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+",
            regex.IGNORECASE)

    def bpe(self, word):
        if word in ("<|startoftext|>", "<|endoftext|>"):
            return [word]
        syms = list(word[:-1]) + [word[-1] + "</w>"]
        while len(syms) > 1:
            ranks = [self.rank.get((a, b)) for a, b in zip(syms, syms[1:])]
            best = min((r for r in ranks if r is not None), default=None)
            if best is None:
                break
            first, second = self.inv[best]
            out, i = [], 0
            while i < len(syms):
                if i + 1 < len(syms) and syms[i] == first and syms[i + 1] == second:
                    out.append(first + second)
                    i += 2
                else:
                    out.append(syms[i])
                    i += 1
            syms = out
        return syms

    def clean(self, text):
        text = unicodedata.normalize("NFC", text)
        text = regex.sub(r"\s+", " ", text).strip()
        return text.lower()

    def encode(self, text):
        out = []
        for tok in self.pat.findall(self.clean(text)):
            enc = "".join(self.byte_sym[b] for b in tok.encode("utf-8"))
            out += [self.id[s] for s in self.bpe(enc)]
        return out


def make_tokenizer():
    return Tokenizer(VOCAB)


# --- emphasis grammar (spec §5) ---
RE_ATTENTION = re.compile(r"\\\(|\\\)|\\\[|\\\]|\\\\|\\|\(|\[|:\s*([+-]?[.\d]+)\s*\)|\)|\]|[^\\()\[\]:]+|:")
RE_BREAK = re.compile(r"\s*\bBREAK\b\s*", re.S)


def parse(text):
    res, rnd, sq = [], [], []

    def mul(start, m):
        for p in range(start, len(res)):
            res[p][1] *= m

    for m in RE_ATTENTION.finditer(text):
        s, w = m.group(0), m.group(1)
        if s.startswith("\\"):
            res.append([s[1:], 1.0])
        elif s == "(":
            rnd.append(len(res))
        elif s == "[":
            sq.append(len(res))
        elif w is not None and rnd:
            mul(rnd.pop(), float(w))
        elif s == ")" and rnd:
            mul(rnd.pop(), 1.1)
        elif s == "]" and sq:
            mul(sq.pop(), 1 / 1.1)
        else:
            for i, part in enumerate(RE_BREAK.split(s)):
                if i > 0:
                    res.append(["BREAK", -1])
                res.append([part, 1.0])
    for p in rnd:
        mul(p, 1.1)
    for p in sq:
        mul(p, 1 / 1.1)
    if not res:
        res = [["", 1.0]]
    i = 0
    while i + 1 < len(res):
        if res[i][1] == res[i + 1][1]:
            res[i][0] += res[i + 1][0]
            res.pop(i + 1)
        else:
            i += 1
    return res


# --- chunking (spec §6) ---
def chunks_of(tok, text, embs, backtrack=20):
    lookup = {}
    for name, n in embs:  # registration order; longest id sequence first, stable
        ids = tok.encode(name)
        lookup[ids[0]] = sorted(lookup.get(ids[0], []) + [(ids, name, n)], key=lambda x: len(x[0]), reverse=True)
    chunks = []
    st = {"cur": [], "mults": [], "fixes": [], "last_comma": -1}

    def close():
        cur, mults = st["cur"], st["mults"]
        pad = 75 - len(cur)
        cur = [BOS] + cur + [EOS] * pad + [EOS]
        mults = [1.0] + mults + [1.0] * pad + [1.0]
        chunks.append({"ids": cur, "multipliers": mults,
                       "embeddings": [{"name": nm, "position": off + 1, "vectors": n} for off, nm, n in st["fixes"]]})
        st.update(cur=[], mults=[], fixes=[], last_comma=-1)

    for frag, w in parse(text):
        if frag == "BREAK" and w == -1:
            close()
            continue
        ids = tok.encode(frag)
        i = 0
        while i < len(ids):
            t = ids[i]
            if t == COMMA:
                st["last_comma"] = len(st["cur"])
            elif backtrack != 0 and len(st["cur"]) == 75 and st["last_comma"] != -1 and \
                    len(st["cur"]) - st["last_comma"] <= backtrack:
                cut = st["last_comma"] + 1
                mv, mm = st["cur"][cut:], st["mults"][cut:]
                st["cur"], st["mults"] = st["cur"][:cut], st["mults"][:cut]
                close()
                st["cur"], st["mults"] = mv, mm
            if len(st["cur"]) == 75:
                close()
            e = None
            for eids, name, n in lookup.get(t, []):
                if ids[i:i + len(eids)] == eids:
                    e = (eids, name, n)
                    break
            if e is None:
                st["cur"].append(t)
                st["mults"].append(w)
                i += 1
                continue
            if len(st["cur"]) + e[2] > 75:
                close()
            st["fixes"].append((len(st["cur"]), e[1], e[2]))
            st["cur"] += [0] * e[2]
            st["mults"] += [w] * e[2]
            i += len(e[0])
    if st["cur"] or not chunks:
        close()
    return chunks


def r6(x):
    return round(x, 6)


def case(tok, text, embs=(), backtrack=20):
    try:
        ch = chunks_of(tok, text, list(embs), backtrack)
    except ValueError:  # float() of a malformed weight inside an open group: the webui raises
        return {"text": text, "error": True}
    for c in ch:
        c["multipliers"] = [r6(m) for m in c["multipliers"]]
    d = {"text": text, "bpe_ids": tok.encode(text), "chunks": ch}
    if embs:
        d["registered"] = [{"name": n, "vectors": v} for n, v in embs]
    if backtrack != 20:
        d["comma_backtrack"] = backtrack
    return d


def same(a, b):
    if a["bpe_ids"] != b["bpe_ids"] or len(a["chunks"]) != len(b["chunks"]):
        return False
    for x, y in zip(a["chunks"], b["chunks"]):
        if x["ids"] != y["ids"] or x["embeddings"] != y["embeddings"]:
            return False
        if any(abs(p - q) > 1e-6 for p, q in zip(x["multipliers"], y["multipliers"])):
            return False
    return True


def self_check(tok):
    vis = json.load(open(os.path.join(ROOT, "tests/golden/tokenizer_visible.json")))
    bad = 0
    for c in vis["cases"]:
        embs = sorted({(e["name"], e["vectors"]) for ch in c["chunks"] for e in ch["embeddings"]})
        if not same(case(tok, c["text"], embs), c):
            bad += 1
            print("self-check mismatch:", repr(c["text"])[:80], file=sys.stderr)
    print("self-check: %d/%d visible cases agree" % (len(vis["cases"]) - bad, len(vis["cases"])), file=sys.stderr)
    return bad == 0


def cases(tok):
    out = []
    add = lambda *a, **k: out.append(case(tok, *a, **k))
    # Unicode: accents (composed and decomposed), CJK, emoji with ZWJ and skin tone, combining marks,
    # RTL, Greek final sigma, Turkish dotted I, long s, digits of other scripts, odd spaces.
    for t in ["Crème brûlée à la carte", "Cre\u0300me bru\u0302le\u0301e", "東京タワーの夜景、美しい",
              "한국어 프롬프트 테스트", "a 😀 cat 👍🏽 with 👨‍👩‍👧 family ❤️", "q\u0303 x\u20dd y\u0336",
              "שלום עולם and مرحبا بالعالم", "ΟΔΟΣ ΣΑΣ Σ ΑΣ.", "İSTANBUL ıi", "'ſ 'S ſtar",
              "٣ ١٢ ४५ ௧ ²³ ½ Ⅻ", "a\u00a0b\u2003c\u3000d\x1ce\x85f\u200bg", "\ufeffBOM and \ufffd",
              "<|startoftext|>hi<|endoftext|> !<|endoftext|>", "tab\tnew\nline\r\n end  ",
              "ＦＵＬＬ ｗｉｄｔｈ", "ﬁne ligature", "émoji🎉🎉🎉!!!", "\x01ctl\x7fdel"]:
        add(t)
    # Emphasis edge cases.
    for t in ["a (red) cat", "a ((red)) cat", "a [red] cat", "a (red:1.5) cat", "a (red cat",
              "a \\(red\\) cat", "((a):0.5)", "(a) (b)", "x:1.2) y", "a cat BREAK a dog",
              "[[[deep]]] and (((deep)))", "([mixed])", "[(mixed)]", "(a:1.2:1.3)", "(a: +1.25 )",
              "(a:-.5)", "(a:.5.)x", "((a:0)) BREAK b", "(unclosed [both", "closed] only) here:",
              "a \\x b \\\\ c \\", "(a:1e3)", "(BREAK) and [BREAK] and (x BREAK y:2)", "xBREAK BREAKx _BREAK BREAK_",
              "BREAK", "BREAK BREAK", "  BREAK  ", "a:b:c", "(a:٢)", "(a:\u00a02\u00a0)", "[a:1.5]", "(a:1.1)(b:1.1)"]:
        add(t)
    # Long prompts: > 3 chunks, commas near chunk borders, BREAK at borders.
    words = "red green blue sky tree house river mountain cloud light shadow stone".split()
    rnd = random.Random(5)
    add(" ".join(rnd.choice(words) for _ in range(260)))
    add(", ".join(rnd.choice(words) for _ in range(200)))
    for pre in (60, 70, 73, 74, 75, 76):
        add(" ".join(["cat"] * pre) + ", a b c d e f g h i j, " + " ".join(["dog"] * 40))
        add(" ".join(["cat"] * pre) + " BREAK " + " ".join(["dog"] * 10))
    add(",," * 80)
    add(", " * 74 + "x y z")
    add("a " * 55 + ", " + "b " * 30, backtrack=0)
    add("a " * 55 + ", " + "b " * 30, backtrack=74)
    add("a " * 70 + ", " + "b " * 30, backtrack=3)
    add("(" + "a " * 80 + ":1.3), [" + "b, " * 40 + "]")
    # Embeddings: at chunk borders, more vectors than fit, longest match, inside emphasis.
    E = [("myemb", 3)]
    add("a photo of myemb, (red:1.2) hair", E)
    add("myembs and my emb and myemb", E)
    for pre in (70, 71, 72, 73, 74, 75):
        add(" ".join(["cat"] * pre) + " myemb dog", E)
    add("x " * 74 + "big", [("big", 75)])
    add("big big", [("big", 75)])
    add("(style-one:1.3) style style-one-two, [style]", [("style", 2), ("style-one", 4), ("style-one-two", 1)])
    add("emb-name_v2 is here", [("emb-name_v2", 8), ("emb", 1)])
    add("a " * 60 + ", myemb " + "b " * 20, E)  # embedding inside a tail moved by the comma rule
    add("Myemb MYEMB myemb", [("MyEmb", 2)])
    # Random mixes.
    pool = ["cat", "dog", ",", "(", ")", "[", "]", ":1.3)", "BREAK", "\\(", "myemb", "é", "日本", "😀", " ", " ", "1", "'s"]
    for _ in range(60):
        add("".join(rnd.choice(pool) + (" " if rnd.random() < 0.5 else "") for _ in range(rnd.randint(0, 120))), E)
    return out


def main():
    tok = make_tokenizer()
    if not self_check(tok):
        sys.exit(1)
    data = {
        "about": "Made by tests/reference/tokenizer_reference.py (Python %s, regex %s, Unicode %s): an independent "
                 "Python model of the spec with NFC standing in for ftfy. Same fields as tokenizer_visible.json; "
                 "'registered' lists the embedding names registered (in order), 'comma_backtrack' a non-default setting, "
                 "'error' a prompt the webui rejects (malformed weight)."
                 % (sys.version.split()[0], regex.__version__, unicodedata.unidata_version),
        "cases": cases(tok),
    }
    path = os.path.join(ROOT, "tests/golden/tokenizer_reference.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d cases" % (path, len(data["cases"])), file=sys.stderr)


if __name__ == "__main__":
    main()
