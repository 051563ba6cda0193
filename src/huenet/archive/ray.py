"""Colorizing archives on Ray (``huenet colorize ... --engine ray``): the stages of ``stages.py``
as a Ray Data pipeline, restartable from a manifest.

    plan (driver; local paths or fsspec URIs)
      -> Ray Data blocks of (input, output) rows
      -> ``map_batches`` on an actor pool: one ``Colorizer`` per actor (one model load), each row
         decoded, colorized, written atomically (``stages.decode`` / ``colorize_photos`` / ``stages.write``)
      -> result rows (input, output, status, error, seconds, model, settings)
      -> ``huenet-manifest.parquet`` beside the outputs, rewritten (atomically) as results arrive

The same files, formats, transparency and refusals as the local engine (``local.py``), since both
run the same stages. A rerun with the same output folder skips every input whose manifest row says
``ok`` and whose output exists; ``retry_failed`` also redoes the ``error`` rows. Ray retries the
tasks of a worker process or node that dies; a retried photo whose output was already renamed into
place is not written again (the rename is the commit), so no photo is written twice and none is
lost. Needs the optional extra ``huenet[ray]``; without ``address`` Ray starts on this machine.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Sequence

from ..colorize import Colorizer
from ..errors import missing_extra
from ..images import IMAGE_EXTENSIONS, ImageLoadError, display_name
from ..settings import ColorizerSettings, OutputSettings
from .stages import Item, Report, _fs, decode, exists, input_keys, is_uri, output_path_for, overwrite_problem, plan
from .stages import write, write_problem

MANIFEST = "huenet-manifest.parquet"
COLUMNS = ("input", "output", "status", "error", "seconds", "model", "settings")


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise missing_extra("--engine ray needs Ray", "ray", e) from None
    return ray


def list_inputs(inputs: Sequence[str], out: str, settings: OutputSettings) -> tuple[list[Item], list[str]]:
    """Items for every photo under ``inputs`` (files, folders, globs; local paths as ``stages.plan``
    lists them, or URIs), outputs mirrored below ``out``; and problem lines."""
    local = [str(i) for i in inputs if not is_uri(str(i))]
    base = out.rstrip("/")
    items, problems = plan(local, base, settings) if local else ([], [])
    if is_uri(base):  # plan placed them below a local folder of that name: the same names below the URI
        items = [Item(i.input, f"{base}/{Path(i.output).relative_to(Path(base)).as_posix()}") for i in items]
    inputs_set = {i.input for i in items}
    taken = {i.output for i in items}
    for uri in (str(i) for i in inputs if is_uri(str(i))):
        fs, root = _fs(uri)
        if fs.isdir(root):
            names = sorted(p for p in fs.find(root) if Path(p).suffix.lower() in IMAGE_EXTENSIONS)
            rel = [Path(p).relative_to(root) for p in names]
        elif fs.exists(root):
            names, rel = [root], [Path(Path(root).name)]
        else:
            problems.append(f"{uri}: no such file or folder")
            continue
        proto = uri.split("://", 1)[0]
        for n, r in zip(names, rel):
            source = f"{proto}://{n}" if not n.startswith(f"{proto}://") else n
            target = f"{base}/{output_path_for(r, Path('.'), settings.format).as_posix()}"
            inputs_set.add(source)
            if target in taken:
                problems.append(f"{source}: output {target} is also another input's; rename one")
                continue
            taken.add(target)
            items.append(Item(source, target))
    kept = []
    for i in items:  # the same refusal as the local engine: per file, the others go on
        if i.output in inputs_set:
            problems.append(overwrite_problem(i.input, i.output))
        else:
            kept.append(i)
    return kept, problems


def read_manifest(out: str) -> dict[str, dict]:
    """input -> its last manifest row, from ``out/huenet-manifest.parquet`` (empty if none)."""
    import pyarrow.parquet as pq

    fs, root = _fs(out)
    path = f"{root.rstrip('/')}/{MANIFEST}"
    if not fs.exists(path):
        return {}
    with fs.open(path, "rb") as f:
        table = pq.read_table(f)
    return {r["input"]: r for r in table.to_pylist()}


def write_manifest(out: str, rows: dict[str, dict]) -> None:
    """All rows, written to a temporary name and renamed (a reader never sees half a file)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    fs, root = _fs(out)
    fs.makedirs(root, exist_ok=True)
    table = pa.Table.from_pylist([{k: r.get(k) for k in COLUMNS} for r in rows.values()],
                                 schema=pa.schema([("input", pa.string()), ("output", pa.string()),
                                                   ("status", pa.string()), ("error", pa.string()),
                                                   ("seconds", pa.float64()), ("model", pa.string()),
                                                   ("settings", pa.string())]))
    final = f"{root.rstrip('/')}/{MANIFEST}"
    tmp = f"{root.rstrip('/')}/.{MANIFEST}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as f:
        pq.write_table(table, f)
    fs.mv(tmp, final)


def settings_text(colorizer: ColorizerSettings, output: OutputSettings) -> str:
    """The settings a manifest row records (all but the model, which has its own column)."""
    values = {k: v for k, v in colorizer.as_dict().items() if k != "model"}
    return json.dumps({**values, **{f"output.{k}": v for k, v in output.__dict__.items()}}, sort_keys=True)


class ColorizeActor:
    """One model per actor process; each call colorizes a batch of rows and writes their outputs."""

    def __init__(self, settings: ColorizerSettings, output: OutputSettings, inputs: frozenset[str]):
        self.output = output
        self.inputs = inputs
        self.settings = settings_text(settings, output)
        self.colorizer = Colorizer.load(settings)
        self.model_name = str(settings.model or "shipped weights")

    def __call__(self, batch: dict) -> dict:
        """Read every row's photo, colorize them together (same-size photos share network batches,
        as on the local engine), write each; one result row per input, in order."""
        rows, photos = [], []
        for src, dst in zip(batch["input"], batch["output"]):
            row = {"input": str(src), "output": str(dst), "status": "ok", "error": None, "model": self.model_name,
                   "settings": self.settings, "seconds": 0.0}
            rows.append(row)
            t0 = time.perf_counter()
            try:
                if exists(row["output"]):  # renamed into place by an attempt that died after it: done
                    continue
                photo, row["output"] = decode(Item(row["input"], row["output"]), self.output, self.inputs)
                row["seconds"] = time.perf_counter() - t0
                photos.append((row, photo))
            except (ImageLoadError, ValueError) as e:
                row.update(status="error", error=str(e), seconds=time.perf_counter() - t0)
            except Exception as e:  # one photo's failure is its row; the run goes on
                row.update(status="error", error=f"{display_name(row['input'])}: {type(e).__name__}: {e}")
        if photos:
            t1 = time.perf_counter()
            try:
                results = self.colorizer.colorize_photos([p for _, p in photos], batch_size=len(photos))
            except Exception as e:
                for row, _ in photos:
                    row.update(status="error", error=f"{row['input']}: colorizing failed ({type(e).__name__}: {e})")
                results = []
            share = (time.perf_counter() - t1) / len(photos)  # the network's time, shared out
            for (row, photo), result in zip(photos, results):
                t2 = time.perf_counter()
                try:
                    write(photo, result, row["output"], self.output)
                except Exception as e:
                    row.update(status="error", error=write_problem(row["input"], row["output"], e))
                row["seconds"] = row["seconds"] + share + (time.perf_counter() - t2)
        return {k: [r[k] for r in rows] for k in COLUMNS}


def colorize_with_ray(settings: ColorizerSettings, inputs: Sequence[str], out: str,
                      output: OutputSettings = OutputSettings(), *, address: str | None = None,
                      actors: int | None = None, retry_failed: bool = False, cpus_per_actor: float = 1.0,
                      gpus_per_actor: float = 0.0, log=None, manifest_every: float = 10.0) -> Report:
    """Colorize ``inputs`` into ``out`` on Ray (see the module docstring). ``actors``: the pool
    size (default: as many as the cluster has CPUs, or GPUs when ``gpus_per_actor`` > 0);
    ``output.batch_size`` rows go to an actor at a time."""
    ray = _ray()
    log = log or sys.stderr
    t0 = time.perf_counter()
    report = Report(manifest=f"{out.rstrip('/')}/{MANIFEST}")
    rows, problems = list_inputs(inputs, out, output)
    for p in problems:
        report.failed.append(p)
        print(f"skipped {p}", file=log)
    manifest = read_manifest(out)
    todo = []
    for r in rows:
        prev = manifest.get(r.input)
        if prev and prev["status"] == "ok" and exists(prev["output"]):
            report.done_before += 1
        elif prev and prev["status"] == "error" and not retry_failed:
            report.failed.append(prev["error"] or prev["input"])
        else:
            todo.append({"input": r.input, "output": r.output})
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report
    started_here = False
    if not ray.is_initialized():
        ray.init(address=address, logging_level="WARNING", log_to_driver=False,
                 runtime_env={"env_vars": {"HUENET_MALLOC_TUNING": os.environ.get("HUENET_MALLOC_TUNING", "1")}})
        started_here = True
    try:
        res = ray.cluster_resources()
        n = actors or max(1, int(res.get("GPU", 0) // gpus_per_actor if gpus_per_actor else
                                 res.get("CPU", 1) // cpus_per_actor))
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False
        batch = output.batch_size
        ds = ray.data.from_items(todo, override_num_blocks=max(1, min(len(todo), len(todo) // batch)))
        ds = ds.map_batches(
            ColorizeActor, fn_constructor_kwargs={"settings": settings, "output": output,
                                                  "inputs": input_keys(r.input for r in rows)},
            batch_size=batch, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=n),
            num_cpus=cpus_per_actor, num_gpus=gpus_per_actor,
            max_restarts=-1, max_task_retries=-1)  # a dead actor is replaced and its batches redone
        last_write = time.perf_counter()
        for result in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(result["input"])):
                r = _row(result, i)
                manifest[r["input"]] = r
                if r["status"] == "ok":
                    report.written.append(r["output"])
                else:
                    report.failed.append(r["error"])
                    print(f"skipped {r['error']}", file=log)
            if time.perf_counter() - last_write > manifest_every:
                write_manifest(out, manifest)
                last_write = time.perf_counter()
    finally:
        write_manifest(out, manifest)
        if started_here:
            ray.shutdown()
    report.seconds = time.perf_counter() - t0
    return report


def _row(batch: dict, i: int) -> dict:
    """Row ``i`` of a numpy batch as plain Python values (Ray turns a column of None into NaN)."""
    r = {}
    for k in COLUMNS:
        v = batch[k][i]
        v = v.item() if hasattr(v, "item") else v
        if k == "seconds":
            r[k] = float(v)
        else:
            r[k] = v if isinstance(v, str) else None
    return r


__all__ = ["ColorizeActor", "colorize_with_ray", "list_inputs", "read_manifest", "write_manifest", "MANIFEST"]
