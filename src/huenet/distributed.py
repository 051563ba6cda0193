"""Colorizing archives on Ray (``huenet colorize ... --engine ray``): the batch path of
``batch.py`` as a Ray Data pipeline, restartable from a manifest.

    file listing (driver; local paths or fsspec URIs)
      -> Ray Data blocks of (input, output) rows
      -> ``map_batches`` on an actor pool: one ``Colorizer`` per actor (one model load), each row
         read and decoded, colorized, encoded and written atomically (temporary name, then rename)
      -> result rows (input, output, status, error, seconds, model, settings)
      -> ``huenet-manifest.parquet`` beside the outputs, rewritten (atomically) as results arrive

A rerun with the same output folder skips every input whose manifest row says ``ok`` and whose
output exists; ``retry_failed`` also redoes the ``error`` rows. Ray retries the tasks of a worker
process or node that dies; a retried photo whose output was already renamed into place is not
written again (the rename is the commit), so no photo is written twice and none is lost.
Needs the optional extra ``huenet[ray]``; without ``address`` Ray starts on this machine.
"""

from __future__ import annotations

import io
import os
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from .images import IMAGE_EXTENSIONS, display_name

MANIFEST = "huenet-manifest.parquet"
COLUMNS = ("input", "output", "status", "error", "seconds", "model", "settings")


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:
        raise RuntimeError(f"--engine ray needs Ray: pip install 'huenet[ray]' ({e})") from None
    return ray


def _is_uri(path: str) -> bool:
    return "://" in path


def _fs(path: str):
    """(fsspec filesystem, path inside it) for a URI or a local path."""
    import fsspec

    return fsspec.core.url_to_fs(path)


def list_inputs(inputs: Sequence[str], out: str, fmt: str | None) -> tuple[list[dict], list[str]]:
    """Rows of (input, output) for every photo under ``inputs`` (files, folders, globs; local or
    URIs), outputs mirrored below ``out`` as the plain batch path does; and problem lines."""
    from .colorize import output_path_for
    from .images import find_images

    rows, problems = [], []
    local = [i for i in inputs if not _is_uri(str(i))]
    found, problems = find_images(local)
    for f in found:
        rows.append({"input": str(f.path), "output": str(output_path_for(f.relative, Path("."), fmt))})
    for uri in (str(i) for i in inputs if _is_uri(str(i))):
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
            rows.append({"input": f"{proto}://{n}" if not n.startswith(f"{proto}://") else n,
                         "output": str(output_path_for(r, Path("."), fmt))})
    base = out.rstrip("/")
    for r in rows:
        r["output"] = f"{base}/{r['output']}"
    seen, unique = set(), []
    for r in rows:  # two inputs that would land on one output: the first wins, the other is a problem
        if r["output"] in seen:
            problems.append(f"{r['input']}: output {r['output']} is also another input's; rename one")
            continue
        seen.add(r["output"])
        unique.append(r)
    return unique, problems


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


@dataclass(frozen=True)
class ColorizerSpec:
    """How each actor builds its ``Colorizer`` (data, so that it travels to the workers)."""

    model: str | None = None
    size: int | None = None
    device: str = "auto"
    precision: str = "auto"
    temperature: float | None = None
    restraint: float | None = None
    saturation: float = 1.0
    png_level: int = 1
    max_pixels: int = 100_000_000
    scales: tuple[float, ...] | None = None
    crop_borders: bool | None = None

    def settings_text(self) -> str:
        import json

        return json.dumps({k: v for k, v in self.__dict__.items() if k != "model"}, sort_keys=True)


class ColorizeActor:
    """One model per actor process; each call colorizes a batch of rows and writes their outputs."""

    def __init__(self, spec: ColorizerSpec):
        from .colorize import Colorizer

        self.spec = spec
        self.settings = spec.settings_text()
        self.colorizer = Colorizer.load(spec.model, size=spec.size, device=spec.device, precision=spec.precision,
                                        temperature=spec.temperature, restraint=spec.restraint,
                                        saturation=spec.saturation, scales=spec.scales, crop_borders=spec.crop_borders)
        self.model_name = str(spec.model or "shipped weights")

    def __call__(self, batch: dict) -> dict:
        """Read every row's photo, colorize them together (same-size photos share network batches,
        as in the plain batch path), write each; one result row per input, in order."""
        from .images import ImageLoadError

        rows, photos = [], []
        for src, dst in zip(batch["input"], batch["output"]):
            row = {"input": str(src), "output": str(dst), "status": "ok", "error": None, "model": self.model_name,
                   "settings": self.settings, "seconds": 0.0}
            rows.append(row)
            t0 = time.perf_counter()
            try:
                if _exists(row["output"]):  # renamed into place by an attempt that died after it: done
                    continue
                photo = self._read(row["input"])
                row["seconds"] = time.perf_counter() - t0
                photos.append((row, photo))
            except ImageLoadError as e:
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
            for (row, _), result in zip(photos, results):
                t2 = time.perf_counter()
                try:
                    self._write(result, row["output"])
                except Exception as e:
                    row.update(status="error", error=f"{row['input']}: cannot write {row['output']} ({e})")
                row["seconds"] = row["seconds"] + share + (time.perf_counter() - t2)
        return {k: [r[k] for r in rows] for k in COLUMNS}

    def _read(self, src: str):
        from .images import load_photo

        if not _is_uri(src):
            return load_photo(src, max_pixels=self.spec.max_pixels)
        fs_in, path_in = _fs(src)
        with fs_in.open(path_in, "rb") as f:
            photo = load_photo(f.read(), max_pixels=self.spec.max_pixels)
        photo.source = src
        return photo

    def _write(self, result, dst: str) -> None:
        if _is_uri(dst):
            fs_out, path_out = _fs(dst)
            _write_uri(result, fs_out, path_out, self.spec.png_level)
        else:  # the same atomic writer as the plain batch path
            from .images import save_image

            save_image(result, dst, png_level=self.spec.png_level)


def _write_uri(img, fs, path: str, png_level: int) -> None:
    """Encode in memory as ``save_image`` would, write under a temporary name beside the target
    on ``fs``, then rename (an object store's rename is a copy; the target still appears whole)."""
    from .images import encoding_for

    img, fmt, params = encoding_for(img, path, png_level=png_level)
    buf = io.BytesIO()
    img.save(buf, format=fmt, **params)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{Path(path).name}.{uuid.uuid4().hex}.tmp"
    with fs.open(tmp, "wb") as f:
        f.write(buf.getvalue())
    fs.mv(tmp, path)


@dataclass
class RayReport:
    done: int = 0  # written in this run
    skipped_done: int = 0  # already done by an earlier run (manifest)
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0
    manifest: str = ""

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        return (f"{self.done} written, {len(self.failed)} failed, {self.skipped_done} already done "
                f"({self.seconds:.1f} s; manifest {self.manifest})")


def colorize_with_ray(spec: ColorizerSpec, inputs: Sequence[str], out: str, *, fmt: str | None = None,
                      address: str | None = None, actors: int | None = None, batch_size: int = 16,
                      retry_failed: bool = False, cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0,
                      log=None, manifest_every: float = 10.0) -> RayReport:
    """Colorize ``inputs`` into ``out`` on Ray (see the module docstring). ``actors``: the pool
    size (default: as many as the cluster has CPUs, or GPUs when ``gpus_per_actor`` > 0)."""
    ray = _ray()
    log = log or sys.stderr
    t0 = time.perf_counter()
    report = RayReport(manifest=f"{out.rstrip('/')}/{MANIFEST}")
    rows, problems = list_inputs(inputs, out, fmt)
    for p in problems:
        report.failed.append(p)
        print(f"skipped {p}", file=log)
    manifest = read_manifest(out)
    inputs_set = {r["input"] for r in rows}
    todo = []
    for r in rows:
        prev = manifest.get(r["input"])
        if prev and prev["status"] == "ok" and _exists(prev["output"]):
            report.skipped_done += 1
        elif prev and prev["status"] == "error" and not retry_failed:
            report.failed.append(prev["error"] or prev["input"])
        else:
            todo.append(r)
    if any(r["output"] in inputs_set for r in todo):
        raise ValueError("an output would overwrite an input; choose another -o")
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
        ds = ray.data.from_items(todo, override_num_blocks=max(1, min(len(todo), len(todo) // batch_size)))
        ds = ds.map_batches(
            ColorizeActor, fn_constructor_kwargs={"spec": spec},
            batch_size=batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=n),
            num_cpus=cpus_per_actor, num_gpus=gpus_per_actor,
            max_restarts=-1, max_task_retries=-1)  # a dead actor is replaced and its batches redone
        last_write = time.perf_counter()
        for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
            for i in range(len(batch["input"])):
                r = _row(batch, i)
                manifest[r["input"]] = r
                if r["status"] == "ok":
                    report.done += 1
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


def _exists(path: str) -> bool:
    fs, p = _fs(path)
    return fs.exists(p)


__all__ = ["ColorizerSpec", "ColorizeActor", "RayReport", "colorize_with_ray", "list_inputs", "read_manifest",
           "write_manifest", "MANIFEST"]
