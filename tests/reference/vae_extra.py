#!/usr/bin/python3
"""Extra VAE eval cases for tests/unit/test_vae.c, beyond make_golden.py's square B=2 pair: a
non-square image and latent at batch 1, with odd level sizes (48x80 px -> 6x10 latent, mid
attention over 60 positions). Same machinery, model (TINY, seed 0) and file conventions as
make_golden.py (tests/golden/README.md), so `make_golden.py --check` verifies them too.

    /usr/bin/python3 tests/reference/vae_extra.py [--out tests/golden]
"""
import argparse
import os
import sys
from collections import OrderedDict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_golden as G  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden"))
    a = ap.parse_args()
    G.SCRIPT = "tests/reference/vae_extra.py"
    g = G.Gen(os.path.abspath(a.out))
    rng = np.random.default_rng(511)
    g.case("vae_enc_48x80", 511, OrderedDict(image=G.f32(rng.uniform(-1, 1, (1, 3, 48, 80)))),
           note="VAE encoder posterior mean/logvar, non-square 48x80 px (latent 6x10), B=1")
    rng = np.random.default_rng(611)
    g.case("vae_dec_6x10", 611, OrderedDict(decode_latent=G.f32(rng.standard_normal((1, 4, 6, 10)) * 0.8)),
           note="VAE decoder from a scaled non-square 6x10 latent, B=1")


if __name__ == "__main__":
    main()
