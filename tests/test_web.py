"""The HTTP API (in-process) and the page (real Chromium against a real server)."""

import asyncio
import io
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from skimage import color as skcolor

from huenet.colorize import Colorizer
from huenet.web.app import ServerSettings, create_app, model_description

from conftest import DATA, REPO, hint_color_at

PHOTO = sorted((DATA / "bsds500" / "test").glob("*.jpg"))[7]


@pytest.fixture(scope="module")
def colorizer(small_checkpoint):
    return Colorizer.load(small_checkpoint, device="cpu")


@pytest.fixture(scope="module")
def client(colorizer):
    app = create_app(colorizer, ServerSettings(max_upload_bytes=2_000_000, max_pixels=4_000_000),
                     model_description(colorizer))
    return TestClient(app, raise_server_exceptions=False)


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A valid tiny PNG whose header declares width x height pixels."""
    buf = io.BytesIO()
    Image.new("L", (8, 8)).save(buf, "PNG")
    data = bytearray(buf.getvalue())
    ihdr = 8 + 8  # signature, then length + type of the IHDR chunk
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", zlib.crc32(bytes(data[12:ihdr + 13])))
    return bytes(data)


def assert_clean_error(r, status):
    assert r.status_code == status, (r.status_code, r.text)
    body = r.json()
    assert body["status"] == status and body["error"]
    assert "Traceback" not in r.text and "/work/" not in r.text and "/tmp/" not in r.text


def test_round_trip_keeps_size_and_lightness(client, colorizer, tmp_path):
    r = client.post("/api/colorize", files={"file": (PHOTO.name, PHOTO.read_bytes(), "image/jpeg")})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    out, src = Image.open(io.BytesIO(r.content)), Image.open(PHOTO).convert("RGB")
    assert out.size == src.size
    dl = np.abs(skcolor.rgb2lab(np.asarray(out.convert("RGB")) / 255)[..., 0] - skcolor.rgb2lab(np.asarray(src) / 255)[..., 0])
    assert dl.mean() < 0.3
    # the very bytes `huenet colorize` writes to a file for this photo (one encoder for both)
    from huenet.images import load_photo, save_image

    save_image(colorizer.colorize_photos([load_photo(PHOTO)])[0], tmp_path / "cli.png")
    assert r.content == (tmp_path / "cli.png").read_bytes()
    r = client.post("/api/colorize", files={"file": ("x.jpg", PHOTO.read_bytes())}, data={"format": "jpeg", "size": "128"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(r.content)).size == src.size
    r = client.post("/api/colorize", content=PHOTO.read_bytes(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200  # a raw image body works too


def test_health_model_page_and_docs(client):
    assert client.get("/api/health").json()["status"] == "ok"
    info = client.get("/api/model").json()
    assert info["model"] == "vgg_fusion" and info["parameters"] > 0
    assert info["inference"]["working_size"] == 256 and info["inference"]["scales"] == [1.0]  # no inference table
    assert info["runtime"]["backend"] == "torch" and "data" not in info and "recipe" not in info["training"]
    page = client.get("/")
    assert page.status_code == 200 and 'type="file"' in page.text
    assert client.get("/docs").status_code == 200
    assert "/api/colorize" in client.get("/openapi.json").json()["paths"]


def test_error_paths(client):
    good = PHOTO.read_bytes()
    big = np.random.default_rng(0).integers(0, 255, (1200, 1200, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(big).save(buf, "PNG")  # ~4.3 MB of noise
    assert_clean_error(client.post("/api/colorize", files={"file": ("big.png", buf.getvalue())}), 413)
    assert_clean_error(client.post("/api/colorize", files={"file": ("bomb.png", bomb_png())}), 413)
    assert_clean_error(client.post("/api/colorize", files={"file": ("n.jpg", os.urandom(5000))}), 415)
    assert_clean_error(client.post("/api/colorize", files={"file": ("page.png", b"<html><body>hi</body></html>")}), 415)
    assert_clean_error(client.post("/api/colorize", files={"file": ("t.jpg", good[: len(good) // 3])}), 422)
    assert_clean_error(client.post("/api/colorize", files={"file": ("e.jpg", b"")}), 415)
    assert_clean_error(client.post("/api/colorize", files={"photo": ("a.jpg", good)}), 422)  # no "file" field
    assert_clean_error(client.post("/api/colorize", data={"size": "256"}), 415)  # not multipart
    assert_clean_error(client.post("/api/colorize", files={"file": ("x.jpg", good)}, data={"size": "99999"}), 422)
    assert_clean_error(client.post("/api/colorize", files={"file": ("x.jpg", good)}, data={"format": "gif"}), 422)
    assert_clean_error(client.post("/api/colorize", content=b"hello", headers={"content-type": "text/plain"}), 415)
    assert_clean_error(client.get("/api/colorize"), 405)
    assert_clean_error(client.get("/nope"), 404)
    assert client.get("/api/health").json()["status"] == "ok"  # still healthy


def test_uploads_never_touch_disk(client, tmp_path, monkeypatch):
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where any spooled upload would land
    img = Image.open(PHOTO).resize((1400, 930))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert len(buf.getvalue()) > 1_100_000  # bigger than Starlette's 1 MB spooling threshold
    r = client.post("/api/colorize", files={"file": ("secret name.png", buf.getvalue())})
    assert r.status_code == 200
    assert list(spool.iterdir()) == []


def test_overload_answers_503_with_retry_after(colorizer):
    app = create_app(colorizer, ServerSettings(workers=1, queue=1))
    body = PHOTO.read_bytes()

    async def burst():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            return await asyncio.gather(*[
                c.post("/api/colorize", files={"file": ("p.jpg", body)}) for _ in range(6)])

    responses = asyncio.run(burst())
    codes = sorted(r.status_code for r in responses)
    assert codes.count(200) >= 2 and codes.count(503) >= 1 and set(codes) <= {200, 503}, codes
    busy = next(r for r in responses if r.status_code == 503)
    assert busy.headers["retry-after"] and busy.json()["error"].startswith("busy")


def test_temperature_per_request_for_classification_models(bins_checkpoint, client):
    c = Colorizer.load(bins_checkpoint, device="cpu")
    cls_client = TestClient(create_app(c, ServerSettings(), model_description(c)), raise_server_exceptions=False)
    assert cls_client.get("/api/model").json()["inference"]["temperature"] == 0.5
    photo = PHOTO.read_bytes()
    outs = {}
    for t in ("0.1", "1"):
        r = cls_client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"temperature": t})
        assert r.status_code == 200
        outs[t] = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"), np.int16)
    assert np.abs(outs["0.1"] - outs["1"]).mean() > 0.5  # the vividness control does something
    assert c.temperature == 0.5  # and a request never changes the server's default
    for bad in ("hot", "0", "11"):  # the range the CLI and the API share: 0.01-10
        assert_clean_error(cls_client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"temperature": bad}), 422)
    r = cls_client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"restraint": "2"})
    assert r.status_code == 200
    assert_clean_error(cls_client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"restraint": "-1"}), 422)
    # a model that predicts ab directly has no temperature: said so, not ignored
    assert client.get("/api/model").json()["inference"]["temperature"] is None
    r = client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"temperature": "0.5"})
    assert_clean_error(r, 422)
    assert "no temperature" in r.json()["error"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(bins_checkpoint):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "huenet.cli", "serve", "--model", str(bins_checkpoint),
                             "--port", str(port), "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if httpx.get(url + "/api/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("server did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_browser_upload_shows_colorized_photo(server):
    from playwright.sync_api import sync_playwright

    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    src = Image.open(PHOTO)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        for name, viewport in [("desktop", {"width": 1100, "height": 900}), ("phone", {"width": 390, "height": 844})]:
            page = browser.new_page(viewport=viewport)
            page.goto(server + "/")
            page.set_input_files("#file", str(PHOTO))
            page.wait_for_function("document.getElementById('result').dataset.ready === '1'", timeout=60_000)
            size = page.evaluate("[document.getElementById('result').naturalWidth, document.getElementById('result').naturalHeight]")
            assert tuple(size) == src.size
            assert "Done" in page.inner_text("#status")
            assert page.get_attribute("#download", "href").startswith("blob:")
            page.screenshot(path=str(artifacts / f"web-{name}.png"), full_page=True)
            # the vividness control (a classification model's temperature) colorizes again
            # shown at most twice its own size (not stretched to the page's width)
            shown = page.evaluate("document.getElementById('compare').getBoundingClientRect().width")
            assert shown <= 2 * src.width + 1, (shown, src.size)
            # the vividness control, in plain words (the numbers behind it in its tooltip)
            assert page.is_visible("#vivid") and page.inner_text("#vivid-value") == "the model's choice"
            assert page.get_attribute("#vivid-value", "title") == "temperature 0.50, restraint 0.00"
            first = page.get_attribute("#download", "href")
            page.evaluate("""() => { const v = document.getElementById('vivid'); v.value = 100;
                                     v.dispatchEvent(new Event('input')); v.dispatchEvent(new Event('change')); }""")
            page.wait_for_function(f"document.getElementById('download').href !== {first!r} && "
                                   "document.getElementById('result').dataset.ready === '1'", timeout=60_000)
            assert page.inner_text("#vivid-value") == "bolder (50)"
            assert page.get_attribute("#vivid-value", "title") == "temperature 0.10, restraint 0.00"
            # an error from the API is shown in words
            bad = artifacts / "not-a-photo.jpg"
            bad.write_bytes(b"definitely not a jpeg")
            page.set_input_files("#file", str(bad))
            page.wait_for_selector("#status.error", timeout=30_000)
            assert "not an image" in page.inner_text("#status")
            page.close()
        browser.close()


def test_hints_travel_as_json_beside_the_file(client):
    """`hints` in the form: the API colorizes with them; bad hints are 422 with the reason."""
    import json

    from skimage import color as skc

    photo = PHOTO.read_bytes()
    src = np.asarray(Image.open(PHOTO).convert("RGB"))
    L = skc.rgb2lab(src / 255.0)[..., 0]
    x, y = 80, 60
    color = hint_color_at(L[y, x], 30, 25)
    hint_rgb = np.array([int(color[i:i + 2], 16) for i in (1, 3, 5)])
    hints = [{"x": x, "y": y, "color": color, "radius": 3}]
    r = client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"hints": json.dumps(hints)})
    assert r.status_code == 200, r.text
    lab = skc.rgb2lab(np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")) / 255.0)[y, x]
    want = skc.rgb2lab(hint_rgb[None, None] / 255.0)[0, 0]
    assert np.linalg.norm(lab - want) < 10, (lab, want)  # Delta E 76, L included
    for bad, msg in ((json.dumps([{"x": 1}]), "x, y, color"), ("not json", "not valid JSON"),
                     (json.dumps([{"x": 99999, "y": 1, "color": "#ff0000"}]), "outside the photo"),
                     (json.dumps([{"x": 1, "y": 1, "color": "red"}]), "expected X,Y")):
        r = client.post("/api/colorize", files={"file": ("x.jpg", photo)}, data={"hints": bad})
        assert_clean_error(r, 422)
        assert msg in r.json()["error"]


def _photo_in_hint_mode(browser, server: str):
    """A page with PHOTO uploaded, colorized, and the hint mode on."""
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.goto(server + "/")
    page.set_input_files("#file", str(PHOTO))
    page.wait_for_function("document.getElementById('result').dataset.ready === '1'", timeout=60_000)
    page.check("#hint-mode")
    return page


def _result_pixel(page, x: int, y: int) -> np.ndarray:
    """RGB of the colorized photo on the page at photo pixel (x, y), read through a canvas."""
    return np.array(page.evaluate("""([x, y]) => { const img = document.getElementById('result');
        const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
        const g = c.getContext('2d'); g.drawImage(img, 0, 0); return Array.from(g.getImageData(x, y, 1, 1).data.slice(0, 3)); }""",
                                  [x, y]), dtype=float)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_browser_hints_put_their_colors_where_clicked(server):
    """Upload, place two points of different colors, get back an image whose color near each point
    is within Delta E 10 (in a, b: the photo keeps its own L) of its hint."""
    from playwright.sync_api import sync_playwright

    src = np.asarray(Image.open(PHOTO).convert("RGB"))
    L = skcolor.rgb2lab(src / 255.0)[..., 0]
    h, w = L.shape
    points = [(w // 4, h // 3), (3 * w // 4, 2 * h // 3)]
    colors = [hint_color_at(L[y, x], a, b) for (x, y), (a, b) in zip(points, ((30, 25), (-15, -30)))]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = _photo_in_hint_mode(browser, server)
        box = page.locator("#compare").bounding_box()
        for (x, y), color in zip(points, colors):
            page.fill("#hint-color", color)
            before = page.get_attribute("#download", "href")
            page.mouse.click(box["x"] + (x + 0.5) / w * box["width"], box["y"] + (y + 0.5) / h * box["height"])
            page.wait_for_function(f"document.getElementById('download').href !== {before!r} && "
                                   "document.getElementById('result').dataset.ready === '1'", timeout=60_000)
        assert page.inner_text("#hint-count") == "2 hints"
        for (x, y), color in zip(points, colors):
            got = _result_pixel(page, x, y)
            lab = skcolor.rgb2lab(got[None, None] / 255.0)[0, 0]  # Delta E 76, L included
            want = skcolor.rgb2lab(np.array([[[int(color[i:i + 2], 16) for i in (1, 3, 5)]]]) / 255.0)[0, 0]
            assert np.linalg.norm(lab - want) < 10, ((x, y), lab, want)
        page.screenshot(path=str(REPO / "test-artifacts" / "web-hints.png"), full_page=True)
        # undo takes the last point away and colorizes again
        before = page.get_attribute("#download", "href")
        page.click("#hint-undo")
        page.wait_for_function(f"document.getElementById('download').href !== {before!r}", timeout=60_000)
        assert page.inner_text("#hint-count") == "1 hint"
        # the hint's reach follows the pointer; clear all takes every hint away
        assert page.locator("#reach").is_visible()
        before = page.get_attribute("#download", "href")
        page.click("#hint-clear")
        page.wait_for_function(f"document.getElementById('download').href !== {before!r}", timeout=60_000)
        assert page.inner_text("#hint-count") == "no hints" and page.is_disabled("#hint-clear")
        browser.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_browser_drag_draws_a_stroke(server):
    from playwright.sync_api import sync_playwright

    src = np.asarray(Image.open(PHOTO).convert("RGB"))
    L = skcolor.rgb2lab(src / 255.0)[..., 0]
    h, w = L.shape
    (x0, y0), (x1, y1) = (w // 5, h // 2), (w // 2, h // 2)
    xm = (x0 + x1) // 2
    color = hint_color_at(L[y0, xm], -20, 30)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = _photo_in_hint_mode(browser, server)
        page.fill("#hint-color", color)
        box = page.locator("#compare").bounding_box()
        to_css = lambda x, y: (box["x"] + (x + 0.5) / w * box["width"], box["y"] + (y + 0.5) / h * box["height"])
        before = page.get_attribute("#download", "href")
        page.mouse.move(*to_css(x0, y0))
        page.mouse.down()
        page.mouse.move(*to_css(x1, y1), steps=20)
        page.mouse.up()
        page.wait_for_function(f"document.getElementById('download').href !== {before!r} && "
                               "document.getElementById('result').dataset.ready === '1'", timeout=60_000)
        assert page.inner_text("#hint-count") == "1 hint"
        got = _result_pixel(page, xm, y0)
        lab = skcolor.rgb2lab(got[None, None] / 255.0)[0, 0]  # Delta E 76, L included
        want = skcolor.rgb2lab(np.array([[[int(color[i:i + 2], 16) for i in (1, 3, 5)]]]) / 255.0)[0, 0]
        assert np.linalg.norm(lab - want) < 10, (lab, want)
        browser.close()


# -- short clips ----------------------------------------------------------------------------------
def _clip_cut(seconds: float) -> bytes:
    """The first ``seconds`` of the shared Big Buck Bunny clip (AAC 5.1), by stream copy, in memory."""
    av = pytest.importorskip("av")
    buf = io.BytesIO()
    with av.open(str(DATA / "video" / "animation_bigbuckbunny.mp4")) as inp, av.open(buf, "w", format="mp4") as out:
        streams = [inp.streams.video[0], inp.streams.audio[0]]
        omap = {s: out.add_stream_from_template(s) for s in streams}
        for pkt in inp.demux(streams):
            if pkt.dts is not None and float(pkt.dts * pkt.time_base) < seconds:
                pkt.stream = omap[pkt.stream]
                out.mux(pkt)
    return buf.getvalue()


def test_api_colorizes_a_short_clip_in_memory(colorizer, tmp_path, monkeypatch):
    av = pytest.importorskip("av")
    clip = _clip_cut(0.6)
    app = create_app(colorizer, ServerSettings(max_video_seconds=2.0, max_upload_bytes=2_000_000))
    c = TestClient(app, raise_server_exceptions=False)
    spool = tmp_path / "tmp"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    r = c.post("/api/colorize-video", files={"file": ("clip.mp4", clip)}, data={"stability": "0.5", "size": "64"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "video/mp4"
    assert list(spool.iterdir()) == []  # nothing written to disk on the way
    with av.open(io.BytesIO(clip)) as a, av.open(io.BytesIO(r.content)) as b:
        assert (b.streams.video[0].width, b.streams.video[0].height) == (1280, 720)
        assert b.streams.audio[0].codec_context.name == "aac"
        n_in, n_out = sum(1 for _ in a.decode(video=0)), sum(1 for _ in b.decode(video=0))
        assert n_in == n_out > 5
    # limits and bad input: one clear JSON error each
    assert c.get("/api/health").json()["max_video_seconds"] == 2.0
    r = c.post("/api/colorize-video", files={"file": ("long.mp4", _clip_cut(3.0))})
    assert_clean_error(r, 413)
    assert "too long" in r.json()["error"]
    small = TestClient(create_app(colorizer, ServerSettings(max_video_pixels=640 * 480)), raise_server_exceptions=False)
    assert "frames too large" in small.post("/api/colorize-video", files={"file": ("c.mp4", clip)}).json()["error"]
    assert_clean_error(c.post("/api/colorize-video", files={"file": ("x.mp4", b"not a video at all")}), 415)
    assert_clean_error(c.post("/api/colorize-video", files={"file": ("x.mp4", PHOTO.read_bytes())}), 415)
    r = c.post("/api/colorize-video", files={"file": ("cut.mp4", clip[: len(clip) // 2])})
    assert r.status_code in (415, 422), r.text  # a truncated MP4 (its index at the end is gone)
    assert_clean_error(c.post("/api/colorize-video", files={"file": ("c.mp4", clip)}, data={"stability": "2"}), 422)


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed (apt-get install -y chromium)")
def test_browser_plays_a_colorized_clip(server, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = tmp_path / "bunny.mp4"
    clip.write_bytes(_clip_cut(0.6))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server + "/")
        page.set_input_files("#file", str(clip))
        page.wait_for_function("document.getElementById('video-result').dataset.ready === '1' || "
                               "document.getElementById('status').className === 'error'", timeout=120_000)
        status = page.inner_text("#status")
        assert "Done: 1280 × 720" in status, status
        assert page.get_attribute("#video-download", "href").startswith("blob:")
        assert page.is_visible("#stability")
        # the browser decodes the returned H.264 and its first frame has color (the input had it, the
        # network saw only its L): mean |R - G| + |G - B| of the frame drawn on a canvas
        chroma_js = """() => { const v = document.getElementById('video-result');
            const c = document.createElement('canvas'); c.width = 160; c.height = 90;
            const g = c.getContext('2d'); g.drawImage(v, 0, 0, 160, 90);
            const d = g.getImageData(0, 0, 160, 90).data; let s = 0;
            for (let i = 0; i < d.length; i += 4) s += Math.abs(d[i] - d[i + 1]) + Math.abs(d[i + 1] - d[i + 2]);
            return s / (d.length / 4); }"""
        page.evaluate("document.getElementById('video-result').play()")  # painted frames, not just metadata
        page.wait_for_function(f"({chroma_js})() > 2", timeout=30_000)
        page.screenshot(path=str(REPO / "test-artifacts" / "web-video.png"), full_page=True)
        browser.close()
