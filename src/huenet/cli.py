"""``huenet`` command line: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", default=None,
                   help="checkpoint (.safetensors with its .json, or a run folder); default: the shipped weights")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--size", type=int, default=256, help="working size: the network sees the short side at this many pixels")


def cmd_colorize(args: argparse.Namespace) -> int:
    from .batch import colorize_files
    from .colorize import Colorizer

    colorizer = Colorizer.load(args.model, size=args.size, device=args.device, backend=args.backend)
    report = colorize_files(
        colorizer, args.inputs, args.output, fmt=args.format, compare=args.compare,
        batch_size=args.batch_size, max_pixels=args.max_pixels,
    )
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1


def cmd_info(args: argparse.Namespace) -> int:
    if args.model is None and args.arch is not None:
        from .models import create_model

        model = create_model(args.arch, encoder=args.encoder) if args.encoder else create_model(args.arch)
        meta = {"model": model.model_name, "config": model.config_dict()}
    else:
        from .checkpoints import load_model
        from .weights import default_weights_path

        model, meta = load_model(args.model or default_weights_path())
    info = {
        "model": meta["model"],
        "config": meta.get("config"),
        "parameters": model.num_parameters(),
        "encoder_weights": meta.get("encoder_weights"),
        "training": meta.get("training"),
        "data": meta.get("data"),
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"model       {info['model']}")
        print(f"config      {json.dumps(info['config'])}")
        print(f"parameters  {info['parameters']:,} ({info['parameters'] / 1e6:.2f} M)")
        if info["encoder_weights"]:
            print(f"encoder     {json.dumps(info['encoder_weights'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huenet", description="Automatic photo colorization (L -> ab).")
    parser.add_argument("--version", action="version", version=f"huenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("colorize", help="colorize photos, folders (recursive) or globs")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    _add_model_args(p)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--format", choices=["png", "jpg", "webp", "tiff"], default=None,
                   help="output format (default: the input's, PNG for others)")
    p.add_argument("--compare", action="store_true", help="also write NAME_compare.png: Input | Predicted | Original")
    p.add_argument("--max-pixels", type=int, default=100_000_000, help="refuse larger images (decompression bombs)")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.set_defaults(func=cmd_colorize)

    p = sub.add_parser("info", help="describe a model: name, config, parameter count, provenance")
    p.add_argument("--model", "-m", default=None, help="checkpoint; default: the shipped weights")
    p.add_argument("--arch", default=None, help="describe a fresh model by registry name instead (e.g. vgg_fusion)")
    p.add_argument("--encoder", default=None, help="with --arch: vgg16 or vgg19")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import USER_ERRORS

    try:
        return int(args.func(args) or 0)
    except USER_ERRORS as e:
        print(f"huenet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
