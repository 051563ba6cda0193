"""The README's before/after picture for color hints: the shipped model without hints, with one
point, then with three (their places drawn as rings), beside the gray input.

    python scripts/hints_example.py -o docs/hints_example.png
"""

import argparse
from pathlib import Path

from PIL import ImageDraw

from huenet.colorize import Colorizer
from huenet.figures import gray_input
from huenet.figures import labelled_row, save_figure
from huenet.images import load_photo

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
PHOTO = SHARED / "bsds500" / "test" / "103006.jpg"
HINTS = ["95,85,#7a5a32,3", "300,170,#8c8378,3", "300,22,#4f7a3a,3"]  # shell brown, rock gray, leaves green


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-o", "--output", default="docs/hints_example.png")
    args = ap.parse_args()
    c = Colorizer.load(device="cpu", precision="fp32")
    photo = load_photo(PHOTO)
    plain = c.colorize_photos([photo])[0]

    def hinted(hints):
        out = c.colorize_hinted(photo, hints)
        draw = ImageDraw.Draw(out)
        for h in hints:
            x, y, color, _ = h.split(",")
            x, y = int(x), int(y)
            draw.ellipse((x - 6, y - 6, x + 6, y + 6), outline="white", width=2, fill=color)
        return out

    row = labelled_row([gray_input(photo), plain, hinted(HINTS[:1]), hinted(HINTS)],
                       ["Input", "No hints", "One hint", "Three hints"], 240,
                       caption=f"huenet colorize {PHOTO.name} -o out.png " + " ".join(f"--hint {h}" for h in HINTS))
    print(save_figure(row, args.output))


if __name__ == "__main__":
    main()
