"""``huenet serve``: a page for people and an HTTP API for programs (FastAPI).

- ``GET /``                the page (plain HTML/CSS/JS shipped in the package, no build step)
- ``POST /api/colorize``   multipart ``file`` (optional ``size``, ``format=png|jpeg``), or a raw
                           ``image/*`` body; answers the colorized image at the input's resolution
- ``POST /api/colorize-video``  a short clip (multipart ``file`` or a raw ``video/*`` body; optional
                           ``stability``, ``size``): answers an MP4 (H.264, the clip's audio copied),
                           within ``ServerSettings``' video limits (413 beyond them)
- ``GET /api/health``, ``GET /api/model``; OpenAPI docs at ``/docs``

Requests are read into memory with a size cap and never written to disk (Starlette's own form
parser spools uploads over 1 MB to temporary files, so the body is parsed here instead). Inference
runs in worker threads, at most ``workers`` at a time; when ``workers + queue`` requests are
already in hand the server answers 503 with Retry-After instead of piling up memory.
Every error is JSON ``{"error": ..., "status": ...}`` without paths or stack traces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from email.parser import BytesParser
from email.policy import HTTP
from importlib import resources

import anyio
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..colorize import Colorizer
from ..hints import DEFAULT_REACH, HintError, load_json_points
from ..images import ImageLoadError, encode_image, load_photo
from ..settings import (
    DEFAULT_STABILITY, RESTRAINT_RANGE, TEMPERATURE_RANGE, ColorizerSettings, ServerSettings,
)
from ..video import Stability, VideoError, colorize_video_bytes

log = logging.getLogger("huenet.web")


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict | None = None):
        self.status, self.message, self.headers = status, message, headers or {}


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


# JPEG replies to the page: a little smaller than the files `huenet colorize` writes (95); the page shows, it does not archive
WEB_JPEG_QUALITY = 92
_IMAGE_ERRORS = {"not_image": 415, "too_large": 413, "corrupt": 422, "unreadable": 422}
_VIDEO_ERRORS = {"not_video": 415, "too_large": 413, "corrupt": 422, "unreadable": 422}


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise ApiError(413, f"upload too large: {int(declared):,} bytes; the limit is {limit:,} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit + 64 * 1024:  # room for the multipart envelope
            raise ApiError(413, f"upload too large; the limit is {limit:,} bytes")
    return bytes(body)


def _parse_upload(content_type: str, body: bytes) -> tuple[bytes, dict[str, str]]:
    """(image bytes, other form fields) from a multipart form or a raw image body."""
    if content_type.startswith("multipart/form-data"):
        msg = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
        if not msg.is_multipart():
            raise ApiError(422, "malformed multipart body")
        data, fields = None, {}
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True) or b""
            if name == "file":
                data = payload
            elif name:
                fields[name] = payload.decode("utf-8", "replace").strip()
        if data is None:
            raise ApiError(422, "no 'file' field in the form")
        return data, fields
    if content_type.startswith(("image/", "video/")) or content_type == "application/octet-stream":
        return body, {}
    raise ApiError(415, "send multipart/form-data with a 'file' field, or an image/* (video/*) body")


# the API's request bodies, as the OpenAPI page (/docs) shows them
_PHOTO_REQUEST = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
        "file": {"type": "string", "format": "binary"},
        "size": {"type": "integer", "description": "working size (short side the network sees)"},
        "temperature": {"type": "number", "description": "vividness of a classification model: "
                        f"{TEMPERATURE_RANGE[0]:g} (bold) to {TEMPERATURE_RANGE[1]:g} (muted; 1 is the "
                        "mean of the likely colors); default the model's"},
        "restraint": {"type": "number", "description": f"classification models: {RESTRAINT_RANGE[0]:g} "
                      f"(none) to {RESTRAINT_RANGE[1]:g}; less color where the likely colors disagree "
                      "in hue; default the model's"},
        "hints": {"type": "string", "description": "color hints, JSON: "
                  '[{"x": 120, "y": 340, "color": "#c03020", "radius": 4}, '
                  '{"stroke": [[40, 300], [150, 330]], "color": "#2f6b2a", "radius": 4}] (photo pixels)'},
        "format": {"type": "string", "enum": ["png", "jpeg"]}}}},
    "image/*": {"schema": {"type": "string", "format": "binary"}}}}}


def _video_request(settings: ServerSettings) -> dict:
    return {"requestBody": {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": f"a clip of at most {settings.max_video_seconds:g} s, {settings.max_video_frames} "
                                    f"frames, {settings.max_video_pixels:,} pixels a frame"},
            "stability": {"type": "number",
                          "description": f"0 (every frame on its own) to 1; default {DEFAULT_STABILITY:g}"},
            "size": {"type": "integer", "description": "working size (short side the network sees)"},
            "temperature": {"type": "number"}, "restraint": {"type": "number"}}}},
        "video/*": {"schema": {"type": "string", "format": "binary"}}}}}


async def _upload(request: Request, settings: ServerSettings,
                  colorizer: Colorizer) -> tuple[bytes, dict[str, str], int]:
    """(file bytes, form fields with the query's as fallback, working size)."""
    body = await _read_body(request, settings.max_upload_bytes)
    data, fields = _parse_upload(request.headers.get("content-type", ""), body)
    if len(data) > settings.max_upload_bytes:
        raise ApiError(413, f"upload too large; the limit is {settings.max_upload_bytes:,} bytes")
    fields = {**request.query_params, **fields}
    size = colorizer.size
    size_text = fields.get("size")
    if size_text:
        if not size_text.isdigit() or not settings.min_size <= int(size_text) <= settings.max_size:
            raise ApiError(422, f"size must be an integer from {settings.min_size} to {settings.max_size}")
        size = int(size_text)
    return data, fields, size


def create_app(colorizer: Colorizer, settings: ServerSettings = ServerSettings(), model_info: dict | None = None) -> FastAPI:
    app = FastAPI(title="huenet", version="1", summary="Automatic photo colorization",
                  description="Upload a photo; get it back colorized at its own resolution.")
    limiter = anyio.CapacityLimiter(settings.workers)
    state = {"in_hand": 0}
    lock = asyncio.Lock()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return _error(exc.status, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        message = {404: "not found", 405: "method not allowed"}.get(exc.status_code, str(exc.detail))
        return _error(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("internal error on %s: %s", request.url.path, type(exc).__name__)
        return _error(500, "internal error while colorizing")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse(resources.files("huenet.web").joinpath("static/index.html").read_text())

    @app.get("/api/health")
    async def health():
        return {"status": "ok", "in_hand": state["in_hand"], "workers": settings.workers,
                "max_upload_bytes": settings.max_upload_bytes, "max_video_seconds": settings.max_video_seconds,
                "max_video_frames": settings.max_video_frames, "max_video_pixels": settings.max_video_pixels}

    @app.get("/api/model")
    async def model():
        # hint_reach: how far one hint spreads (fraction of the diagonal), drawn on the page
        return {**(model_info or {}), "hint_reach": DEFAULT_REACH}

    @contextlib.asynccontextmanager
    async def admitted():
        """A request in hand for its whole life; beyond workers + queue: 503 at once."""
        async with lock:
            if state["in_hand"] >= settings.workers + settings.queue:
                raise ApiError(503, "busy: too many requests in progress; retry shortly",
                               {"Retry-After": str(settings.retry_after_s)})
            state["in_hand"] += 1
        try:
            yield
        finally:
            async with lock:
                state["in_hand"] -= 1

    @app.post(
        "/api/colorize",
        responses={200: {"content": {"image/png": {}, "image/jpeg": {}}}, 413: {}, 415: {}, 422: {}, 503: {}},
        openapi_extra=_PHOTO_REQUEST,
    )
    async def colorize(request: Request):
        async with admitted():
            data, fields, size = await _upload(request, settings, colorizer)
            fmt = (fields.get("format") or "png").lower()
            if fmt == "jpg":
                fmt = "jpeg"
            if fmt not in ("png", "jpeg"):
                raise ApiError(422, "format must be png or jpeg")
            temperature = _decode_setting(colorizer, "temperature", *TEMPERATURE_RANGE, fields.get("temperature"))
            restraint = _decode_setting(colorizer, "restraint", *RESTRAINT_RANGE, fields.get("restraint"))
            points = _hint_points(fields.get("hints"))
            out = await anyio.to_thread.run_sync(_colorize_bytes, colorizer, data, size, fmt, settings.max_pixels,
                                                 temperature, restraint, points, limiter=limiter)
            return Response(out, media_type=f"image/{fmt}", headers={"Cache-Control": "no-store"})

    @app.post(
        "/api/colorize-video",
        responses={200: {"content": {"video/mp4": {}}}, 413: {}, 415: {}, 422: {}, 503: {}},
        openapi_extra=_video_request(settings),
    )
    async def colorize_video(request: Request):
        async with admitted():
            data, fields, size = await _upload(request, settings, colorizer)
            stability = _number(fields.get("stability"), "stability", 0, 1)
            temperature = _decode_setting(colorizer, "temperature", *TEMPERATURE_RANGE, fields.get("temperature"))
            restraint = _decode_setting(colorizer, "restraint", *RESTRAINT_RANGE, fields.get("restraint"))
            out = await anyio.to_thread.run_sync(_colorize_clip_bytes, colorizer, data, settings, size, stability,
                                                 temperature, restraint, limiter=limiter)
            return Response(out, media_type="video/mp4", headers={"Cache-Control": "no-store"})

    return app


def _number(text: str | None, name: str, low: float, high: float) -> float | None:
    if not text:
        return None
    try:
        v = float(text)
    except ValueError:
        raise ApiError(422, f"{name} must be a number from {low:g} to {high:g}") from None
    if not low <= v <= high:
        raise ApiError(422, f"{name} must be a number from {low:g} to {high:g}")
    return v


def _colorize_clip_bytes(colorizer: Colorizer, data: bytes, settings: ServerSettings, size: int,
                         stability: float | None, temperature: float | None, restraint: float | None) -> bytes:
    """An uploaded clip, checked against the server's limits, colorized in memory into an MP4."""
    try:
        out, _ = colorize_video_bytes(
            colorizer, data, stability=Stability() if stability is None else Stability(stability), size=size,
            temperature=temperature, restraint=restraint, max_frames=settings.max_video_frames,
            max_seconds=settings.max_video_seconds, max_frame_pixels=settings.max_video_pixels, progress=False,
            preset="veryfast")
    except VideoError as e:
        raise ApiError(_VIDEO_ERRORS.get(e.kind, 422), e.reason) from None
    return out


def _decode_setting(colorizer: Colorizer, name: str, low: float, high: float, text: str | None) -> float | None:
    """A request's temperature or restraint: a number in [low, high], only for classification models."""
    v = _number(text, name, low, high)
    if v is not None and colorizer.temperature is None:
        raise ApiError(422, f"this model predicts colors directly and has no {name}")
    return v


def _hint_points(text: str | None) -> list:
    """The request's color hints: a JSON list of {x, y, color, radius} (photo pixels), or none."""
    if not text:
        return []
    try:  # their places are checked against the photo once it is decoded (colorize_hinted)
        return load_json_points(text)
    except HintError as e:
        raise ApiError(422, str(e)) from None


def _colorize_bytes(colorizer: Colorizer, data: bytes, size: int, fmt: str, max_pixels: int,
                    temperature: float | None = None, restraint: float | None = None, points=()) -> bytes:
    try:
        photo = load_photo(data, max_pixels=max_pixels)
    except ImageLoadError as e:
        raise ApiError(_IMAGE_ERRORS.get(e.kind, 422), e.reason) from None
    if points:
        try:
            result = colorizer.colorize_hinted(photo, points, size=size, temperature=temperature, restraint=restraint)
        except HintError as e:  # e.g. a point outside the photo
            raise ApiError(422, str(e)) from None
    else:
        result = colorizer.colorize_photos([photo], size=size, temperature=temperature, restraint=restraint)[0]
    # encoded as `huenet colorize` writes files (PNG at the fast default level; bench_png.py)
    return encode_image(result, "result.jpg" if fmt == "jpeg" else "result.png", quality=WEB_JPEG_QUALITY)


def model_description(colorizer: Colorizer) -> dict:
    """``/api/model``: the colorizer's description (``Colorizer.describe``, as ``huenet info
    --json`` prints it) without the data and recipe tables."""
    d = colorizer.describe()
    d.pop("data")
    d["training"] = {k: v for k, v in (d["training"] or {}).items() if k != "recipe"}
    return d


def serve(settings: ColorizerSettings = ColorizerSettings(), host: str = "127.0.0.1", port: int = 8000,
          server: ServerSettings = ServerSettings()) -> None:
    """Load the colorizer ``settings`` describe and serve the page and the API until stopped."""
    import uvicorn

    colorizer = Colorizer.load(settings)
    app = create_app(colorizer, server, model_description(colorizer))
    uvicorn.run(app, host=host, port=port, log_level="info")
