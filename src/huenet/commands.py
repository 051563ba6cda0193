"""What each ``huenet`` command does, given its parsed arguments (``cli.py`` parses them and
imports this module only then, so that ``huenet --help`` answers without loading PyTorch)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .archive.local import colorize_files
from .archive.ray import colorize_with_ray
from .archive.stages import WRITABLE_SUFFIXES, Item, decode, input_keys, write
from .checkpoints import load_model
from .colorize import Colorizer, check_decode_settings
from .config import TrainConfig, apply_overrides, load_recipe
from .data import mean_ab_of_pack, prepare_pack
from .errors import SettingsError
from .evaluate import evaluate, format_table, write_outputs
from .export import export_onnx
from .figures import contact_sheet, gray_input, lab_split, loss_curve, save_figure, triptych
from .hints import parse_points, parse_stroke
from .images import find_images, load_photo, looks_gray, pil_from_rgb
from .models import create_model
from .onnx_backend import compare_backends
from .settings import ColorizerSettings, OutputSettings, ServerSettings
from .training import resume, train
from .video import Stability, VideoSettings
from .video_io import is_video_path
from .video_eval import evaluate_videos, format_video_table, write_video_outputs
from .weights import default_weights_path


def settings_from_args(args: argparse.Namespace) -> ColorizerSettings:
    """The ``ColorizerSettings`` of the options ``cli.add_colorizer_args`` added (one place: a flag
    cannot be dropped on the way to the colorizer)."""
    return ColorizerSettings(
        model=args.model, backend=args.backend, device=args.device, precision=args.precision, compile=args.compile,
        size=args.size, temperature=args.temperature, restraint=args.restraint, saturation=args.saturation,
        scales=tuple(args.scales) if args.scales else None, crop_borders=args.crop_borders)


def output_settings_from_args(args: argparse.Namespace) -> OutputSettings:
    return OutputSettings(batch_size=args.batch_size, max_pixels=args.max_pixels, format=args.format,
                          png_level=args.png_level, compare=args.compare)


def _hinted(args: argparse.Namespace) -> bool:
    return bool(args.hint or args.hints or args.stroke)


def check_colorize_options(args: argparse.Namespace) -> None:
    """Refuse, in one line, a combination ``huenet colorize`` cannot honor (never ignore it)."""
    if _hinted(args):
        if args.engine == "ray":
            raise SettingsError("--hint/--stroke/--hints run on one photo here; they do not take --engine ray")
        if args.format:
            raise SettingsError("with hints, -o names the output image and its format; leave out --format")
        if len(args.inputs) != 1 or not Path(args.inputs[0]).is_file() or is_video_path(args.inputs[0]):
            raise SettingsError("--hint/--stroke/--hints apply to one photo: give one input file and one output file")
    if args.engine == "ray" and any(is_video_path(i) and Path(i).is_file() for i in args.inputs):
        raise SettingsError("--engine ray colorizes photos; colorize video clips with the local engine")


def cmd_colorize(args: argparse.Namespace) -> int:
    check_colorize_options(args)
    settings, output = settings_from_args(args), output_settings_from_args(args)
    if _hinted(args):
        return _colorize_with_hints(args, settings, output)
    if args.engine == "ray":
        report = colorize_with_ray(settings, args.inputs, args.output, output, address=args.address,
                                   actors=args.actors, retry_failed=args.retry_failed,
                                   gpus_per_actor=1.0 if args.device == "cuda" else 0.0)
    else:
        report = colorize_files(Colorizer.load(settings), args.inputs, args.output, output,
                                video=_video_settings(args))
    print(report.summary(), file=sys.stderr)
    return 0 if report.ok else 1


def _stability(args: argparse.Namespace) -> Stability:
    return Stability(strength=0.0) if args.no_stability else \
        Stability() if args.stability is None else Stability(strength=args.stability)


def _video_settings(args: argparse.Namespace) -> VideoSettings:
    options = {"preset": args.preset} if args.preset else {}
    return VideoSettings(stability=_stability(args), codec=args.video_codec, crf=args.crf,
                         batch_size=args.batch_size, **options)


def _colorize_with_hints(args: argparse.Namespace, settings: ColorizerSettings, output: OutputSettings) -> int:
    """One photo, one output, with the user's color hints (parsed and checked before any work)."""
    points = parse_points(args.hint or [])
    for stroke in args.stroke or []:
        points += parse_stroke(stroke)
    out = Path(args.output)
    if out.suffix.lower() not in WRITABLE_SUFFIXES:
        raise SettingsError(f"{out}: with hints, -o names the output image (e.g. out.png)")
    photo, target = decode(Item(args.inputs[0], str(out)), output, input_keys(args.inputs))
    colorizer = Colorizer.load(settings)
    result = colorizer.colorize_hinted(photo, points, args.hints)
    write(photo, result, target, output)
    print(f"1 written with {len(points)} hint point(s){' and a hint image' if args.hints else ''}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .web.app import serve  # the optional extra huenet[serve]
    except ImportError as e:
        print(f"huenet serve needs the web extra: pip install 'huenet[serve]' ({e})", file=sys.stderr)
        return 2
    server = ServerSettings(max_upload_bytes=int(args.max_upload_mb * 1e6), max_pixels=args.max_pixels,
                            workers=args.workers, queue=args.queue)
    serve(settings_from_args(args), host=args.host, port=args.port, server=server)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    if args.model is None and args.arch is not None:
        model = create_model(args.arch, encoder=args.encoder) if args.encoder else create_model(args.arch)
        meta = {"model": model.model_name, "config": model.config_dict()}
    else:
        model, meta = load_model(args.model or default_weights_path())
    # what `huenet colorize` does with it by default, on what --device/--precision auto pick here
    info = Colorizer(model, ColorizerSettings(), meta=meta).describe()
    parameters = info["parameters"]
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"model       {info['model']}")
    print(f"config      {json.dumps(info['config'])}")
    print(f"parameters  {parameters:,} ({parameters / 1e6:.2f} M)")
    if info["encoder_weights"]:
        print(f"encoder     {json.dumps(info['encoder_weights'])}")
    inf = info["inference"]
    how = (f"temperature {inf['temperature']:g}, restraint {inf['restraint'] or 0:g} (annealed mean "
           f"over {model.output_channels} ab bins; --temperature: lower is more vivid)"
           if inf["temperature"] is not None else "predicts ab directly")
    print(f"colorizes   working size {inf['working_size']}"
          + (f" (logits averaged with {', '.join(map(str, inf['scale_sizes']))})" if inf["scale_sizes"] else "")
          + f", {how}" + (f", chroma gain {inf['saturation']:g}" if inf["saturation"] != 1 else "")
          + ("; mirrored view averaged" if inf["flip"] else "")
          + ("; uniform frames kept gray" if inf["crop_borders"] else ""))
    rt = info["runtime"]
    print(f"runs here   {rt['device']}, {rt['precision']} (torch {rt['torch']}, {rt['threads']} threads)")
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:

    report = prepare_pack(args.sources, args.output, size=args.size, val_fraction=args.val_fraction,
                          seed=args.seed, workers=args.workers, lamem_split=args.lamem_split)
    for path, reason in report.skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(report.summary())
    return 0


def cmd_train(args: argparse.Namespace) -> int:

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

    out = loss_curve(args.run, args.output)
    print(out)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:

    colorizer = Colorizer.load(settings_from_args(args))
    # mean-ab baseline: from the given training pack, else as recorded in the model's checkpoint
    mean_ab = mean_ab_of_pack(args.train_pack) if args.train_pack else (colorizer.meta.get("data") or {}).get("mean_ab")
    if mean_ab is None:
        print("note: no --train-pack and no mean ab in the checkpoint: the mean-ab baseline is left out", file=sys.stderr)

    clips = [d for d in args.data if is_video_path(d) and not Path(d).is_dir()]
    photos = [d for d in args.data if d not in clips]
    if clips:

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

    if args.kind == "loss":
        print(loss_curve(args.inputs[0], args.output))
        return 0

    colorizer = Colorizer.load(settings_from_args(args))
    if args.kind == "lab-split":
        photo = load_photo(args.inputs[0])
        original = pil_from_rgb(photo.rgb)
        pred = colorizer.colorize_photos([photo])[0]
        print(lab_split(original, pred, args.output, title=Path(args.inputs[0]).name))
        return 0

    found, problems = find_images(args.inputs)
    for p in problems:
        print(f"skipped {p}", file=sys.stderr)
    rows = []
    for f in found[: args.limit]:
        photo = load_photo(f.path)
        pred = colorizer.colorize_photos([photo])[0]
        original = None if args.no_truth or looks_gray(photo) else pil_from_rgb(photo.rgb)
        rows.append(triptych(gray_input(photo), pred, original, height=args.height, caption=f.path.name))
    if not rows:
        print("huenet figures: error: no photos", file=sys.stderr)
        return 2
    print(save_figure(contact_sheet(rows), args.output))
    return 0


def cmd_export(args: argparse.Namespace) -> int:

    model, meta = load_model(args.model or default_weights_path())
    if args.temperature is not None:  # the graph computes the annealed mean at one fixed T

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
