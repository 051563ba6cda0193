"""``huenet`` command line: parses arguments and calls the library, nothing more."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__


def _add_model_args(p: argparse.ArgumentParser, precision: str = "auto") -> None:
    p.add_argument("--model", "-m", default=None,
                   help="checkpoint (.safetensors with its .json, or a run folder); default: the shipped weights")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--size", type=int, default=None,
                   help="working size: the network sees the short side at this many pixels (default: the model's, else 256)")
    p.add_argument("--temperature", "-t", type=float, default=None,
                   help="vividness of a classification model: lower is more vivid, 1 the muted mean "
                        "(default: the model's; the shipped model's is in `huenet info`)")
    p.add_argument("--restraint", type=float, default=None,
                   help="classification models: less color where the likely colors disagree in hue "
                        "(0 = none; default: the model's)")
    p.add_argument("--precision", default=precision, choices=["auto", "fp32", "bf16"],
                   help=f"the network's arithmetic (default {precision}; auto: bf16 where the CPU/GPU has it natively)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the network (for long GPU runs; compiling takes seconds)")
    p.add_argument("--scales", type=float, nargs="+", default=None, metavar="S",
                   help="also run the network at these multiples of the working size and average its logits, "
                        "e.g. --scales 1 2 (steadier colors, 2-5x the network's time; default: the model's)")
    p.add_argument("--crop-borders", action=argparse.BooleanOptionalAction, default=None,
                   help="keep uniform black or white frames (scans, film edges, letterboxes) gray and "
                        "colorize the picture inside (default: on)")


def _colorizer_kwargs(args: argparse.Namespace) -> dict:
    """The options every command passes to ``Colorizer.load`` (one place: a flag cannot be dropped)."""
    return {"size": args.size, "device": args.device, "precision": args.precision, "compile": args.compile,
            "temperature": args.temperature, "restraint": args.restraint, "scales": args.scales,
            "crop_borders": args.crop_borders}


def cmd_colorize(args: argparse.Namespace) -> int:
    from .batch import colorize_files
    from .colorize import Colorizer

    if args.hint or args.hints or args.stroke:
        return _colorize_with_hints(args)
    if args.engine == "ray":
        return _colorize_on_ray(args)
    colorizer = Colorizer.load(args.model, backend=args.backend, saturation=args.saturation, **_colorizer_kwargs(args))
    report = colorize_files(
        colorizer, args.inputs, args.output, fmt=args.format, compare=args.compare,
        batch_size=args.batch_size, max_pixels=args.max_pixels, png_level=args.png_level,
        video=_video_settings(args),
    )
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1


def _colorize_on_ray(args: argparse.Namespace) -> int:
    """The batch path as a Ray Data pipeline with a manifest beside the outputs (distributed.py)."""
    from .distributed import ColorizerSpec, colorize_with_ray

    if args.compare or args.backend != "torch" or args.compile:
        raise ValueError("--engine ray takes neither --compare, --backend onnxruntime nor --compile")
    spec = ColorizerSpec(model=args.model, size=args.size, device=args.device, precision=args.precision,
                         temperature=args.temperature, restraint=args.restraint, saturation=args.saturation,
                         png_level=args.png_level, max_pixels=args.max_pixels,
                         scales=tuple(args.scales) if args.scales else None, crop_borders=args.crop_borders)
    report = colorize_with_ray(spec, args.inputs, args.output, fmt=args.format, address=args.address,
                               actors=args.actors, batch_size=args.batch_size, retry_failed=args.retry_failed,
                               gpus_per_actor=1.0 if args.device == "cuda" else 0.0)
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1


def _stability(args: argparse.Namespace):
    from .video import Stability

    return Stability(strength=0.0 if args.no_stability else args.stability)


def _video_settings(args: argparse.Namespace):
    from .video import VideoSettings

    return VideoSettings(stability=_stability(args), codec=args.video_codec, crf=args.crf, preset=args.preset,
                         batch_size=args.batch_size)


def _add_stability_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stability", type=float, default=0.9, metavar="0-1",
                   help="video: weight of the color carried along the motion from the previous frame where "
                        "the motion is reliable (default 0.9; 0 = every frame on its own)")
    p.add_argument("--no-stability", action="store_true", help="video: colorize every frame on its own")


def _colorize_with_hints(args: argparse.Namespace) -> int:
    """One photo, one output, with the user's color hints (parsed and checked before any work)."""
    from pathlib import Path

    from .colorize import Colorizer
    from .hints import parse_points, parse_stroke
    from .images import load_photo, save_image

    if len(args.inputs) != 1 or not Path(args.inputs[0]).is_file():
        raise ValueError("--hint/--stroke/--hints apply to one photo: give one input file and one output file")
    points = parse_points(args.hint or [])
    for stroke in args.stroke or []:
        points += parse_stroke(stroke)
    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp"):
        raise ValueError(f"{out}: with hints, -o names the output image (e.g. out.png)")
    if out.resolve() == Path(args.inputs[0]).resolve():
        raise ValueError(f"{out}: the output would overwrite the input; choose another -o")
    photo = load_photo(args.inputs[0], max_pixels=args.max_pixels)
    colorizer = Colorizer.load(args.model, saturation=args.saturation, **_colorizer_kwargs(args))
    result = colorizer.colorize_hinted(photo, points, args.hints)
    save_image(result, out, png_level=args.png_level)
    print(f"1 written with {len(points)} hint point(s){' and a hint image' if args.hints else ''}", file=sys.stderr)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    if args.model is None and args.arch is not None:
        from .models import create_model

        model = create_model(args.arch, encoder=args.encoder) if args.encoder else create_model(args.arch)
        meta = {"model": model.model_name, "config": model.config_dict()}
    else:
        from .checkpoints import load_model
        from .weights import default_weights_path

        model, meta = load_model(args.model or default_weights_path())
    import torch

    from .colorize import DEFAULT_WORKING_SIZE, pick_device, pick_precision

    device = pick_device("auto")
    info = {
        "model": meta["model"],
        "config": meta.get("config"),
        "parameters": model.num_parameters(),
        "encoder_weights": meta.get("encoder_weights"),
        "training": meta.get("training"),
        "data": meta.get("data"),
        # what --device auto and --precision auto choose on this machine
        # what `huenet colorize` does with it by default
        "inference": {"working_size": (meta.get("inference") or {}).get("size") or DEFAULT_WORKING_SIZE,
                      "temperature": getattr(model, "temperature", None),
                      "scales": (meta.get("inference") or {}).get("scales") or [1.0],
                      "crop_borders": (meta.get("inference") or {}).get("crop_borders", True)},
        "runtime": {"device": device.type, "precision": pick_precision("auto", device),
                    "torch": torch.__version__, "threads": torch.get_num_threads()},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"model       {info['model']}")
        print(f"config      {json.dumps(info['config'])}")
        print(f"parameters  {info['parameters']:,} ({info['parameters'] / 1e6:.2f} M)")
        if info["encoder_weights"]:
            print(f"encoder     {json.dumps(info['encoder_weights'])}")
        inf = info["inference"]
        how = (f"temperature {inf['temperature']:g}, restraint {getattr(model, 'restraint', 0):g} (annealed mean "
               f"over {model.output_channels} ab bins; --temperature: lower is more vivid)"
               if inf["temperature"] is not None else "predicts ab directly")
        sizes = [round(inf["working_size"] * s) for s in inf["scales"]]
        print(f"colorizes   working size {inf['working_size']}"
              + (f" (logits averaged with {', '.join(map(str, sizes[1:]))})" if len(sizes) > 1 else "") + f", {how}"
              + ("; uniform frames kept gray" if inf["crop_borders"] else ""))
        rt = info["runtime"]
        print(f"runs here   {rt['device']}, {rt['precision']} (torch {rt['torch']}, {rt['threads']} threads)")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from .data import prepare_pack

    report = prepare_pack(args.sources, args.output, size=args.size, val_fraction=args.val_fraction,
                          seed=args.seed, workers=args.workers, lamem_split=args.lamem_split)
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from .config import TrainConfig, apply_overrides, load_recipe
    from .training import resume, train

    flags = dict(
        data=args.data, out=args.out, epochs=args.epochs, batch_size=args.batch_size, size=args.size,
        lr=args.lr, encoder_weights=args.encoder_weights, freeze_encoder_epochs=args.freeze_encoder_epochs,
        max_steps=args.max_steps, device=args.device, seed=args.seed, workers=args.workers,
        val_data=args.val_data, save_every=args.save_every, val_every=args.val_every,
        init_from=args.init_from, compile=True if args.compile else None,
        deterministic=True if args.deterministic else None, preload=True if args.preload else None,
        amp=args.amp, objective=args.objective, rebalance_lambda=args.rebalance_lambda,
        time_limit_min=args.time_limit,
    )
    if args.resume:
        run = resume(args.resume, **{k: v for k, v in flags.items() if k in (
            "epochs", "max_steps", "device", "workers", "save_every", "val_every", "time_limit_min",
            "preload") and v is not None})
    else:
        cfg = load_recipe(args.config) if args.config else TrainConfig()
        if args.encoder:
            cfg = apply_overrides(cfg, model_config={**cfg.model_config, "encoder": args.encoder})
        run = train(apply_overrides(cfg, **flags))
    print(f"run folder: {run}")
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from .figures import loss_curve

    out = loss_curve(args.run, args.output)
    print(out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .colorize import Colorizer
    from .evaluate import evaluate, format_table, mean_ab_of_pack, write_outputs

    colorizer = Colorizer.load(args.model, backend=args.backend, **_colorizer_kwargs(args))
    # mean-ab baseline: from the given training pack, else as recorded in the model's checkpoint
    mean_ab = mean_ab_of_pack(args.train_pack) if args.train_pack else (colorizer.meta.get("data") or {}).get("mean_ab")
    if mean_ab is None:
        print("note: no --train-pack and no mean ab in the checkpoint: the mean-ab baseline is left out", file=sys.stderr)
    from .video import is_video_path

    clips = [d for d in args.data if is_video_path(d) and not Path(d).is_dir()]
    photos = [d for d in args.data if d not in clips]
    if clips:
        from .video_eval import evaluate_videos, format_video_table, write_video_outputs

        vev = evaluate_videos(colorizer, clips, _stability(args), max_side=args.video_max_side,
                              limit=args.video_frames)
        if not vev.clips:
            print(f"huenet evaluate: error: no clip could be read from {' '.join(clips)}", file=sys.stderr)
            return 2
        write_video_outputs(vev, args.out, model_name=str(args.model or "shipped weights"))
        print(format_video_table(vev.summary()))
        print(f"wrote {args.out}/video_summary.json, video_report.md")
        if not photos:
            return 0
    summaries = []
    for protocol in args.protocol:
        ev, extremes = evaluate(colorizer, photos, protocol=protocol, mean_ab=mean_ab, max_pixels=args.max_pixels)
        if not ev.rows:
            print(f"huenet evaluate: error: no photo could be read from {' '.join(args.data)}", file=sys.stderr)
            return 2
        out = Path(args.out) / protocol if len(args.protocol) > 1 else Path(args.out)
        name = str(args.model or "shipped weights")
        summaries.append(write_outputs(ev, extremes, out, model_name=name))
        print(format_table(summaries[-1]))
        print(f"wrote {out}/metrics.csv, summary.json, report.md")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from . import figures

    if args.kind == "loss":
        print(figures.loss_curve(args.inputs[0], args.output))
        return 0
    from .colorize import Colorizer, gray_input
    from .images import load_photo, pil_from_rgb

    colorizer = Colorizer.load(args.model, **_colorizer_kwargs(args))
    if args.kind == "lab-split":
        photo = load_photo(args.inputs[0])
        original = pil_from_rgb(photo.rgb)
        pred = colorizer.colorize_photos([photo])[0]
        print(figures.lab_split(original, pred, args.output, title=Path(args.inputs[0]).name))
        return 0
    from .images import find_images

    found, problems = find_images(args.inputs)
    for p in problems:
        print(f"skipped {p}", file=sys.stderr)
    rows = []
    for f in found[: args.limit]:
        photo = load_photo(f.path)
        pred = colorizer.colorize_photos([photo])[0]
        original = None if args.no_truth else pil_from_rgb(photo.rgb)
        rows.append(figures.triptych(gray_input(photo), pred, original, height=args.height, caption=f.path.name))
    if not rows:
        print("huenet figures: error: no photos", file=sys.stderr)
        return 2
    print(figures.save_figure(figures.contact_sheet(rows), args.output))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .web.app import ServerSettings, serve
    except ImportError as e:
        print(f"huenet serve needs the web extra: pip install 'huenet[serve]' ({e})", file=sys.stderr)
        return 2
    settings = ServerSettings(max_upload_bytes=int(args.max_upload_mb * 1e6), max_pixels=args.max_pixels,
                              workers=args.workers, queue=args.queue)
    serve(args.model, host=args.host, port=args.port, device=args.device, size=args.size, settings=settings,
          precision=args.precision, compile=args.compile, temperature=args.temperature, restraint=args.restraint)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .checkpoints import load_model
    from .export import compare_backends, export_onnx
    from .images import find_images
    from .weights import default_weights_path

    model, meta = load_model(args.model or default_weights_path())
    if args.temperature is not None:  # the graph computes the annealed mean at one fixed T
        from .colorize import check_decode_settings

        check_decode_settings(model, args.temperature, None)
        model.temperature = args.temperature
        meta = {**meta, "config": {**meta.get("config", {}), "temperature": args.temperature}}
    path = export_onnx(model, args.output, meta)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB; inputs L: N x 1 x H x W, any N, H, W)")
    if args.check:
        found, problems = find_images(args.check)
        worst = 0.0
        for name, diff in compare_backends(model, path, [f.path for f in found[:args.check_limit]], args.size):
            print(f"  {name}: max |ab onnxruntime - ab torch| = {diff:.2e}")
            worst = max(worst, diff)
        print(f"max abs ab difference over {min(len(found), args.check_limit)} photos: {worst:.2e} (Lab units)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huenet", description="Automatic photo colorization (L -> ab).")
    parser.add_argument("--version", action="version", version=f"huenet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("colorize", help="colorize photos and video clips, folders (recursive) or globs")
    p.add_argument("inputs", nargs="+", help="image or video files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True, help="output file (one input) or folder")
    _add_model_args(p)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--format", choices=["png", "jpg", "webp", "tiff"], default=None,
                   help="output format (default: the input's, PNG for others)")
    p.add_argument("--compare", action="store_true", help="also write NAME_compare.png: Input | Predicted | Original")
    p.add_argument("--max-pixels", type=int, default=100_000_000, help="refuse larger images (decompression bombs)")
    p.add_argument("--hint", action="append", metavar="X,Y,#RRGGBB[,R]",
                   help="a color you know, at photo pixel X,Y (optionally over a disk of R px); repeatable; one photo")
    p.add_argument("--stroke", action="append", metavar="X1,Y1:X2,Y2:...,#RRGGBB[,R]",
                   help="a stroke of one color along photo pixels (brush radius R, default 2); repeatable")
    p.add_argument("--hints", metavar="PNG", help="a hint image: the photo's size, transparent but for colored marks")
    p.add_argument("--png-level", type=int, default=1, choices=range(10), metavar="0-9",
                   help="zlib level of PNG outputs: 1 (default) writes a 12 MP photo ~4x faster than 6 for ~13%% "
                        "more bytes; 9 is smallest and slowest")
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    p.add_argument("--saturation", type=float, default=1.0,
                   help="gain on the predicted color (1.0: as trained; 1.3: livelier than MSE's safe colors)")
    _add_stability_args(p)
    p.add_argument("--video-codec", choices=["h264", "vp9"], default=None,
                   help="video: encoder (default: VP9 for .webm, H.264 yuv420p otherwise)")
    p.add_argument("--crf", type=int, default=None, metavar="Q",
                   help="video quality, lower is better (default 18 for H.264, 31 for VP9)")
    p.add_argument("--preset", default="medium", help="video: x264 speed preset (ultrafast ... veryslow)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="ray: run as a Ray Data pipeline (huenet[ray]) with a manifest beside the outputs; photos only")
    p.add_argument("--address", default=None, help="--engine ray: join this Ray cluster (default: start Ray here)")
    p.add_argument("--actors", type=int, default=None, help="--engine ray: colorizer actors (default: one per CPU/GPU)")
    p.add_argument("--retry-failed", action="store_true", help="--engine ray: redo the inputs the manifest lists as failed")
    p.set_defaults(func=cmd_colorize)

    p = sub.add_parser("info", help="describe a model: name, config, parameter count, provenance")
    p.add_argument("--model", "-m", default=None, help="checkpoint; default: the shipped weights")
    p.add_argument("--arch", default=None, help="describe a fresh model by registry name instead (e.g. vgg_fusion)")
    p.add_argument("--encoder", default=None, help="with --arch: vgg16 or vgg19")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("prepare", help="pack photo folders into memory-mapped training arrays")
    p.add_argument("sources", nargs="+", help="folders (flowers class folders, LaMem root, train/val folders) or list files")
    p.add_argument("-o", "--output", required=True, help="pack folder to write")
    p.add_argument("--size", type=int, default=144, help="short side resized to this, then center-cropped square")
    p.add_argument("--val-fraction", type=float, default=None, help="fixed-seed validation split for photos without one")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="decoding processes (default: CPU count, at most 8)")
    p.add_argument("--lamem-split", type=int, default=1, help="which of LaMem's numbered splits to use")
    p.set_defaults(func=cmd_prepare)

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
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument("--seed", type=int)
    p.add_argument("--workers", type=int)
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
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("plot", help="draw a run's loss curve (train and validation, lr halvings marked)")
    p.add_argument("run", help="run folder (holds metrics.jsonl)")
    p.add_argument("-o", "--output", default=None, help="PNG path (default RUN/loss.png)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("evaluate", help="score a model against the originals, with gray and mean-ab baselines")
    p.add_argument("data", nargs="+", help="photo folders or files (the originals)")
    _add_model_args(p, precision="fp32")  # scores that do not depend on the machine's arithmetic
    p.add_argument("--protocol", nargs="+", choices=["full", "256"], default=["full"],
                   help="full: original resolution; 256: resized to 256x256 first (both: one folder each)")
    p.add_argument("--train-pack", help="training pack: adds the mean-ab baseline")
    p.add_argument("--out", default="eval", help="folder for metrics.csv, summary.json, report.md")
    p.add_argument("--max-pixels", type=int, default=100_000_000)
    p.add_argument("--backend", choices=["torch", "onnxruntime"], default="torch")
    _add_stability_args(p)
    p.add_argument("--video-max-side", type=int, default=640,
                   help="clips: score frames at a long side of at most this many pixels (0 = full size)")
    p.add_argument("--video-frames", type=int, default=None, help="clips: score only the first N frames")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("figures", help="loss curve, Lab split, triptychs / contact sheet (PNG)")
    p.add_argument("kind", choices=["loss", "lab-split", "triptych"])
    p.add_argument("inputs", nargs="+", help="loss: a run folder; lab-split: one photo; triptych: photos/folders")
    p.add_argument("-o", "--output", required=True, help="PNG to write")
    _add_model_args(p)
    p.add_argument("--no-truth", action="store_true", help="real black-and-white photos: Input | Predicted only")
    p.add_argument("--limit", type=int, default=8, help="triptych: at most this many photos")
    p.add_argument("--height", type=int, default=256, help="triptych: row height in pixels")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("serve", help="web page and HTTP API (needs huenet[serve])")
    _add_model_args(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: this machine only)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="photos colorized at the same time")
    p.add_argument("--queue", type=int, default=8, help="requests that may wait; beyond that: 503")
    p.add_argument("--max-upload-mb", type=float, default=25.0)
    p.add_argument("--max-pixels", type=int, default=50_000_000)
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("export", help="export to ONNX (dynamic batch, height, width)")
    p.add_argument("--model", "-m", default=None, help="checkpoint; default: the shipped weights")
    p.add_argument("-o", "--output", required=True, help="ONNX file to write")
    p.add_argument("--check", nargs="*", help="photos/folders: compare onnxruntime with PyTorch on them")
    p.add_argument("--check-limit", type=int, default=8)
    p.add_argument("--size", type=int, default=256, help="working size for --check")
    p.add_argument("--temperature", type=float, default=None,
                   help="classification models: the annealed mean's T built into the graph (default: the model's)")
    p.set_defaults(func=cmd_export)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .errors import USER_ERRORS
    from .runtime import tune_allocator, tune_pillow

    tune_allocator()
    tune_pillow()

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
