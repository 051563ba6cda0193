"""``huenet`` command line: parses arguments, then calls ``commands.py``, which calls the library.

Only the standard library and huenet's settings are imported here: ``huenet --help`` answers
without loading PyTorch; the command's module is imported once the arguments are parsed.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import HuenetError
from .process import tune_allocator, tune_pillow
from .settings import (
    BACKENDS, DEFAULT_BATCH_SIZE, DEFAULT_MAX_PIXELS, DEFAULT_PNG_LEVEL, DEFAULT_STABILITY, DEFAULT_VIDEO_PRESET,
    DEFAULT_WORKING_SIZE, DEVICES, OUTPUT_FORMATS, PRECISIONS, RESTRAINT_RANGE, TEMPERATURE_RANGE, ColorizerSettings,
    ServerSettings,
)


def add_colorizer_args(p: argparse.ArgumentParser, precision: str = "auto") -> None:
    """The options of ``ColorizerSettings``, with its defaults (``commands.settings_from_args``
    reads them back): every command that colorizes takes the same ones."""
    d = ColorizerSettings()
    p.add_argument("--model", "-m", default=d.model,
                   help="checkpoint (.safetensors with its .json, a run folder, or an exported .onnx); "
                        "default: the shipped weights")
    p.add_argument("--backend", choices=BACKENDS, default=d.backend,
                   help="run the network on PyTorch or on onnxruntime (exported in memory; huenet[onnx]); "
                        f"default {d.backend}; an .onnx --model always runs on onnxruntime")
    p.add_argument("--device", default=d.device, choices=DEVICES,
                   help=f"where the network runs (default {d.device}: CUDA, then MPS, then the CPU)")
    p.add_argument("--size", type=int, default=d.size,
                   help="working size: the network sees the short side at this many pixels "
                        f"(default: the model's, else {DEFAULT_WORKING_SIZE})")
    lo, hi = TEMPERATURE_RANGE
    p.add_argument("--temperature", "-t", type=float, default=d.temperature,
                   help=f"classification models (like the shipped one): vividness, {lo:g}-{hi:g}; lower is more "
                        "vivid, 1 the muted mean (default: the model's; `huenet info` shows it)")
    p.add_argument("--restraint", type=float, default=d.restraint,
                   help="classification models: less color where the likely colors disagree in hue, "
                        f"{RESTRAINT_RANGE[0]:g}-{RESTRAINT_RANGE[1]:g} (0 = none; default: the model's)")
    p.add_argument("--saturation", type=float, default=d.saturation,
                   help="gain on the predicted color, any model (default: the model's, else 1: as trained); mostly "
                        "for models that predict ab directly (MSE), whose colors are safe and muted: try 1.3")
    p.add_argument("--precision", default=precision, choices=PRECISIONS,
                   help=f"the network's arithmetic (default {precision}; auto: bf16 where the CPU/GPU has it natively)")
    p.add_argument("--compile", action="store_true", default=d.compile,
                   help="torch.compile the network (for long GPU runs; compiling takes seconds; default off)")
    p.add_argument("--scales", type=float, nargs="+", default=d.scales, metavar="S",
                   help="also run the network at these multiples of the working size and average its logits, "
                        "e.g. --scales 1 2 (steadier colors, 2-5x the network's time; default: the model's)")
    p.add_argument("--crop-borders", action=argparse.BooleanOptionalAction, default=d.crop_borders,
                   help="keep uniform black or white frames (scans, film edges, letterboxes) gray and "
                        "colorize the picture inside (default: the model's, else on)")


def _add_stability_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stability", type=float, default=None, metavar="0-1",
                   help="video: weight of the color carried along the motion from the previous frame where "
                        f"the motion is reliable (default {DEFAULT_STABILITY:g}; 0 = every frame on its own)")
    p.add_argument("--no-stability", action="store_true", help="video: colorize every frame on its own")


def _add_colorize(sub) -> None:
    p = sub.add_parser("colorize", help="colorize photos and video clips, folders (recursive) or globs")
    p.add_argument("inputs", nargs="+", help="image or video files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    add_colorizer_args(p)
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                   help=f"photos (or frames) of one size that share a network batch (default {DEFAULT_BATCH_SIZE})")
    p.add_argument("--format", choices=OUTPUT_FORMATS, default=None,
                   help="output format (default: the input's, PNG for others)")
    p.add_argument("--compare", action="store_true",
                   help="also write NAME_compare.png: Input | Predicted | Original (Input | Predicted for a gray photo)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger images (decompression bombs; default {DEFAULT_MAX_PIXELS:,})")
    p.add_argument("--hint", action="append", metavar="X,Y,#RRGGBB[,R]",
                   help="a color you know, at photo pixel X,Y (optionally over a disk of R px); repeatable; one photo")
    p.add_argument("--stroke", action="append", metavar="X1,Y1:X2,Y2:...,#RRGGBB[,R]",
                   help="a stroke of one color along photo pixels (brush radius R, default 2); repeatable")
    p.add_argument("--hints", metavar="PNG", help="a hint image: the photo's size, transparent but for colored marks")
    p.add_argument("--png-level", type=int, default=DEFAULT_PNG_LEVEL, choices=range(10), metavar="0-9",
                   help=f"zlib level of PNG outputs (default {DEFAULT_PNG_LEVEL}: writes a 12 MP photo ~4x faster "
                        "than 6 for ~13%% more bytes; 9 is smallest and slowest)")
    _add_stability_args(p)
    p.add_argument("--video-codec", choices=["h264", "vp9"], default=None,
                   help="video: encoder (default: VP9 for .webm, H.264 yuv420p otherwise)")
    p.add_argument("--crf", type=int, default=None, metavar="Q",
                   help="video quality, lower is better (default 18 for H.264, 31 for VP9)")
    p.add_argument("--preset", default=None,
                   help=f"video: x264 speed preset, ultrafast ... veryslow (default {DEFAULT_VIDEO_PRESET})")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local (default): this process; ray: a Ray Data pipeline (huenet[ray]) with a manifest "
                        "beside the outputs; photos only")
    p.add_argument("--address", default=None, help="--engine ray: join this Ray cluster (default: start Ray here)")
    p.add_argument("--actors", type=int, default=None, help="--engine ray: colorizer actors (default: one per CPU/GPU)")
    p.add_argument("--retry-failed", action="store_true", help="--engine ray: redo the inputs the manifest lists as failed")
    p.set_defaults(func="cmd_colorize")


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="describe a model: name, config, parameter count, provenance")
    p.add_argument("--model", "-m", default=None, help="checkpoint; default: the shipped weights")
    p.add_argument("--arch", default=None, help="describe a fresh model by registry name instead (e.g. vgg_fusion)")
    p.add_argument("--encoder", default=None, help="with --arch: vgg16 or vgg19")
    p.add_argument("--json", action="store_true", help="print the description as JSON (for programs)")
    p.set_defaults(func="cmd_info")


def _add_prepare(sub) -> None:
    p = sub.add_parser("prepare", help="pack photo folders into memory-mapped training arrays")
    p.add_argument("sources", nargs="+", help="folders (flowers class folders, LaMem root, train/val folders) or list files")
    p.add_argument("-o", "--output", required=True, help="pack folder to write")
    p.add_argument("--size", type=int, default=144, help="short side resized to this, then center-cropped square")
    p.add_argument("--val-fraction", type=float, default=None, help="fixed-seed validation split for photos without one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count, at most 8)")
    p.add_argument("--lamem-split", type=int, default=1, help="which of LaMem's numbered splits to use")
    p.set_defaults(func="cmd_prepare")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a colorizer (defaults: the seed's recipe)")
    p.add_argument("--config", help="TOML recipe (configs/*.toml)")
    p.add_argument("--data", help="a pack (huenet prepare) or a photo folder")
    p.add_argument("--val-data", help="separate validation pack or folder")
    p.add_argument("--out", help="run folder (default runs/run)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run exactly where its last checkpoint left it")
    p.add_argument("--epochs", type=int)
    p.add_argument("--max-steps", type=int)
    p.add_argument("--batch-size", type=int, help="global batch (split across torchrun processes)")
    p.add_argument("--size", type=int, help="training crop size")
    p.add_argument("--lr", type=float)
    p.add_argument("--encoder", choices=["vgg16", "vgg19"])
    p.add_argument("--encoder-weights", help="imagenet | hed:PATH | torchvision-layout .pth/.safetensors")
    p.add_argument("--init-from", help="start from a huenet checkpoint (fine-tune)")
    p.add_argument("--freeze-encoder-epochs", type=int)
    p.add_argument("--device", choices=DEVICES, help="where to train (default auto: CUDA, then MPS, then the CPU)")
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int, help="DataLoader workers when reading photo folders (default 2)")
    p.add_argument("--save-every", type=int, help="steps between checkpoints (default: each epoch)")
    p.add_argument("--val-every", type=int, help="steps between validations (default: each epoch)")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="bf16 autocast where the CPU/GPU has bf16 natively (default on; --no-amp: fp32 throughout)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--deterministic", action="store_true")
    p.add_argument("--preload", action="store_true", help="read the whole pack into memory")
    p.add_argument("--objective", choices=["mse", "classification"],
                   help="mse (the seed's) or classification over ab bins (Zhang et al. 2016; vivid colors)")
    p.add_argument("--rebalance-lambda", type=float,
                   help="classification: class rebalancing, 1 = none, 0 = full inverse prior (default 0.5)")
    p.add_argument("--time-limit", type=float, metavar="MIN",
                   help="stop cleanly after this many minutes (saves a checkpoint; --resume continues)")
    p.set_defaults(func="cmd_train")


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="draw a run's loss curve (train and validation, lr halvings marked)")
    p.add_argument("run", help="run folder (holds metrics.jsonl)")
    p.add_argument("-o", "--output", default=None, help="PNG path (default RUN/loss.png)")
    p.set_defaults(func="cmd_plot")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a model against the originals, with gray and mean-ab baselines")
    p.add_argument("data", nargs="+", help="photo folders or files (the originals)")
    add_colorizer_args(p, precision="fp32")  # scores that do not depend on the machine's arithmetic
    p.add_argument("--protocol", nargs="+", choices=["full", "256"], default=["full"],
                   help="full: original resolution; 256: resized to 256x256 first (both: one folder each)")
    p.add_argument("--train-pack", help="training pack: adds the mean-ab baseline")
    p.add_argument("--out", default="eval", help="folder for metrics.csv, summary.json, report.md")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help=f"refuse larger images (default {DEFAULT_MAX_PIXELS:,})")
    _add_stability_args(p)
    p.add_argument("--video-max-side", type=int, default=640,
                   help="clips: score frames at a long side of at most this many pixels (0 = full size)")
    p.add_argument("--video-frames", type=int, default=None, help="clips: score only the first N frames")
    p.set_defaults(func="cmd_evaluate")


def _add_figures(sub) -> None:
    p = sub.add_parser("figures", help="loss curve, Lab split, triptychs / contact sheet (PNG)")
    p.add_argument("kind", choices=["loss", "lab-split", "triptych"])
    p.add_argument("inputs", nargs="+", help="loss: a run folder; lab-split: one photo; triptych: photos/folders")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    add_colorizer_args(p)
    p.add_argument("--no-truth", action="store_true", help="real black-and-white photos: Input | Predicted only")
    p.add_argument("--limit", type=int, default=8, help="triptych: at most this many photos")
    p.add_argument("--height", type=int, default=256, help="triptych: row height in pixels")
    p.set_defaults(func="cmd_figures")


def _add_serve(sub) -> None:
    p = sub.add_parser("serve", help="web page and HTTP API (needs huenet[serve])")
    add_colorizer_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    s = ServerSettings()
    p.add_argument("--workers", type=int, default=s.workers, help=f"photos colorized at the same time (default {s.workers})")
    p.add_argument("--queue", type=int, default=s.queue,
                   help=f"requests that may wait beyond those running; beyond that: 503 (default {s.queue})")
    p.add_argument("--max-upload-mb", type=float, default=s.max_upload_bytes / 1e6,
                   help=f"largest upload in MB (default {s.max_upload_bytes / 1e6:g})")
    p.add_argument("--max-pixels", type=int, default=s.max_pixels,
                   help=f"refuse larger uploaded images (default {s.max_pixels:,})")
    p.set_defaults(func="cmd_serve")


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="export to ONNX (dynamic batch, height, width)")
    p.add_argument("--model", "-m", default=None, help="checkpoint; default: the shipped weights")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--check", nargs="*", help="photos/folders: compare onnxruntime with PyTorch on them")
    p.add_argument("--check-limit", type=int, default=8)
    p.add_argument("--size", type=int, default=DEFAULT_WORKING_SIZE,
                   help=f"working size for --check (default {DEFAULT_WORKING_SIZE})")
    p.add_argument("--temperature", type=float, default=None,
                   help="classification models: the annealed mean's T built into the graph (default: the model's)")
    p.set_defaults(func="cmd_export")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huenet", description="Automatic photo colorization (L -> ab).")
    parser.add_argument("--version", action="version", version=f"huenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_colorize, _add_info, _add_prepare, _add_train, _add_plot, _add_evaluate, _add_figures, _add_serve, _add_export):
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    tune_allocator()
    tune_pillow()
    debug = os.environ.get("HUENET_DEBUG", "0") not in ("", "0")
    try:
        commands = importlib.import_module(".commands", __package__)  # PyTorch and the library, from here on
        return int(getattr(commands, args.func)(args) or 0)
    except (HuenetError, OSError) as e:  # the input, a file or a setting: one line says which and why
        if debug:
            raise
        print(f"huenet {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug: say so, and how to see where
        if debug:
            raise
        print(f"huenet {args.command}: internal error ({type(e).__name__}: {e}); "
              "run again with HUENET_DEBUG=1 to see the traceback", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
