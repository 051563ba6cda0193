"""How much the colors move with the working size (issue 25's scale gate).

    python scripts/scale_consistency.py ../shared/data/bsds500/test [--model M] [--sizes 128 256] \
        [--scales 1 2] [--temperature T] [--restraint R]

Each photo is colorized at its own resolution at each working size (everything else the model's
defaults); printed: the mean over photos of the mean Delta ab (Euclidean, Lab) between the outputs
at the first two sizes, and the mean colorfulness (Hasler-Suesstrunk) at each size.
"""

from __future__ import annotations

import argparse

import numpy as np

from huenet.colorize import Colorizer
from huenet.data import _walk_images
from huenet.evaluate import mean_delta_ab
from huenet.images import open_image
from huenet.metrics import colorfulness


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data")
    ap.add_argument("--model", default=None)
    ap.add_argument("--sizes", type=int, nargs=2, default=[128, 256])
    ap.add_argument("--scales", type=float, nargs="*", default=None, help="the colorizer's scales (default: the model's)")
    ap.add_argument("--temperature", type=float, default=None, help="default: the model's")
    ap.add_argument("--restraint", type=float, default=None, help="default: the model's")
    args = ap.parse_args()
    cs = [Colorizer.load(args.model, size=s, precision="fp32", temperature=args.temperature, restraint=args.restraint,
                         scales=tuple(args.scales) if args.scales else None) for s in args.sizes]
    dab, cf = [], [[] for _ in cs]
    for path in _walk_images(args.data):
        img = open_image(path)
        outs = [np.asarray(c.colorize(img).convert("RGB")) for c in cs]
        dab.append(mean_delta_ab(outs[0], outs[1]))
        for k, o in enumerate(outs):
            cf[k].append(colorfulness(o))
    print(f"{len(dab)} photos; mean Delta ab between sizes {args.sizes[0]} and {args.sizes[1]}: {np.mean(dab):.2f}; "
          + "; ".join(f"CF at {s}: {np.mean(v):.1f}" for s, v in zip(args.sizes, cf)))


if __name__ == "__main__":
    main()
