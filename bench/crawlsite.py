"""The crawl benchmark's fixture site: a generated gallery site as static files, a fast server
for it, and a raw-fetch client that shows the server is not the bottleneck.

Used by ``bench/crawl.py``; also runnable on its own from the repository root::

    .venv/bin/python bench/crawlsite.py generate DIR [--pages 10000] [--images-per-page 2]
    .venv/bin/python bench/crawlsite.py serve DIR [--port 0]   # prints "serving http://..."

The site is a tree of pages (fan-out :data:`FANOUT`; each page also links home, to its parent
and to two random pages), every page showing its own ``images_per_page`` JPEG gallery images:
procedurally drawn, textured 200-400 px pictures (distinct, and past the matcher's quality
gate), among which a small share are altered copies of the shipped sample works, made with
:data:`swordnet.demo.site.ALTERATIONS` at a random scale. Each planted copy is checked with
the product's own matcher when it is generated (stage 1, then stage 2 as the pipeline runs
them), so the hits a crawl should store are known exactly: ``manifest.json`` lists them.

The server preloads every file and answers HTTP/1.1 keep-alive GETs from memory with
prebuilt responses on one asyncio event loop: far cheaper per request than the crawler
(``bench/crawl.py`` reports a raw-fetch baseline measured with :func:`fetch_all`).

Heavy imports (numpy, Pillow, the matcher) happen inside the generator functions, so the
server and the raw-fetch client stay light.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import html
import json
import os
import random
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GENERATOR_VERSION = 2
FANOUT = 10
RELATED_LINKS = 2
MIN_SIDE, MAX_SIDE = 200, 400
PLANT_SCALES = (0.6, 1.0)  # planted copies: the 480x360 work scaled by this, then altered
MANIFEST = "manifest.json"
WORDS = [
    "free", "download", "hd", "wallpaper", "gallery", "photo", "upload", "new", "best",
    "full", "size", "high", "quality", "collection", "set", "album", "trending", "popular",
    "premium", "leaked", "share", "mirror", "original", "exclusive", "latest", "art",
    "picture", "image", "stock", "vintage", "nature", "city", "night", "sunset",
]


# --- site layout -----------------------------------------------------------------------------

def page_path(number: int) -> str:
    """``/`` or ``/<section>/<slug>-<n>.html``: slugs, as gallery sites have, so the URLs do
    not all share one digits-only pattern (the spider's trap guard caps each such pattern)."""
    if number == 0:
        return "/"
    rnd = random.Random(number)
    return f"/{rnd.choice(WORDS)}/{'-'.join(rnd.choices(WORDS, k=3))}-{number}.html"


def image_path(number: int) -> str:
    return f"/img/{number:06d}.jpg"


def _file_for(root: Path, path: str) -> Path:
    return root / ("index.html" if path == "/" else path.lstrip("/"))


def _page_html(number: int, pages: int, images: list[int], rnd: random.Random) -> bytes:
    children = [c for c in range(number * FANOUT + 1, number * FANOUT + FANOUT + 1) if c < pages]
    related = [rnd.randrange(pages) for _ in range(RELATED_LINKS)]
    nav = [("Home", 0)] + ([("Up", (number - 1) // FANOUT)] if number else [])
    title = f"{' '.join(rnd.choices(WORDS, k=4)).title()} - gallery {number}"
    figures = "".join(
        f'<figure class="thumb"><img src="{image_path(n)}" '
        f'alt="{html.escape(" ".join(rnd.choices(WORDS, k=5)))}" loading="lazy" '
        f'width="300" height="300"><figcaption>#{n} '
        f'{html.escape(" ".join(rnd.choices(WORDS, k=8)))}</figcaption></figure>'
        for n in images)
    text = "".join(f"<p>{' '.join(rnd.choices(WORDS, k=60))}.</p>" for _ in range(3))
    links = "".join(f'<li><a href="{page_path(c)}">Gallery {c}</a></li>' for c in children)
    more = "".join(f'<a class="rel" href="{page_path(r)}">Related {r}</a> ' for r in related)
    nav_html = " | ".join(f'<a href="{page_path(p)}">{label}</a>' for label, p in nav)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body{font-family:sans-serif;margin:0 auto;max-width:960px}"
        ".thumb{display:inline-block;margin:8px}nav{padding:8px;background:#223}"
        "nav a{color:#fff}</style></head><body>"
        f"<nav>{nav_html}</nav><h1>{html.escape(title)}</h1>"
        f'<section class="gallery">{figures}</section>{text}'
        f'<ul class="sub">{links}</ul><div class="more">{more}</div>'
        "<footer>All content uploaded by users. Ads: casino-bonus.example</footer>"
        "</body></html>"
    ).encode()


def textured_photo(seed: int) -> Any:  # PIL.Image.Image; lazy import keeps the server light
    """A distinct 200-400 px picture: smooth colour waves, translucent shapes, fine grain."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFilter

    rng = np.random.default_rng(seed)
    width, height = (int(v) for v in rng.integers(MIN_SIDE, MAX_SIDE + 1, 2))
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    x /= width
    y /= height
    pixels = np.broadcast_to(rng.uniform(50, 200, 3).astype(np.float32),
                             (height, width, 3)).copy()
    for _ in range(4):
        fx, fy = rng.uniform(-4, 4, 2)
        wave = np.sin(2 * np.pi * (fx * x + fy * y) + rng.uniform(0, 2 * np.pi))
        pixels += wave[..., None] * rng.uniform(10, 40, 3).astype(np.float32)
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(int(rng.integers(5, 14))):
        x0, y0 = int(rng.integers(-width // 4, width)), int(rng.integers(-height // 4, height))
        x1 = x0 + int(rng.integers(20, width // 2))
        y1 = y0 + int(rng.integers(20, height // 2))
        colour = (*(int(v) for v in rng.integers(0, 256, 3)), int(rng.integers(120, 230)))
        shape = rng.random()
        if shape < 0.4:
            draw.ellipse([x0, y0, x1, y1], fill=colour)
        elif shape < 0.8:
            corners = [(int(rng.integers(0, width)), int(rng.integers(0, height)))
                       for _ in range(int(rng.integers(3, 7)))]
            draw.polygon(corners, fill=colour)
        else:
            draw.rectangle([x0, y0, x1, y1], fill=colour)
    image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    grain = rng.normal(0, rng.uniform(5, 12), (height // 3 + 1, width // 3 + 1, 1))
    grain = np.kron(grain, np.ones((3, 3, 1)))[:height, :width].astype(np.float32)
    pixels = np.asarray(image, dtype=np.float32) + grain
    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _jpeg(image: Any, quality: int) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _write_unrelated(root: str, seed: int, numbers: list[int]) -> int:
    written = 0
    for n in numbers:
        body = _jpeg(textured_photo(seed * 1_000_003 + n), 70 + (n * 7) % 21)
        _file_for(Path(root), image_path(n)).write_bytes(body)
        written += len(body)
    return written


def _sample_index() -> tuple[Any, dict[int, str], dict[str, Any]]:
    """A match index of the shipped sample works, registered as ``swordnet works add`` does."""
    from PIL import Image

    from matching.match_index import MatchIndex
    from matching.stages import registration_fingerprints
    from swordnet.demo.samples import sample_files

    index = MatchIndex()
    titles: dict[int, str] = {}
    images = {}
    for work_id, (path, title) in enumerate(sample_files(), start=1):
        titles[work_id] = title
        images[title] = Image.open(path).convert("RGB")
        for algorithm, variant, value in registration_fingerprints("image", path.read_bytes()):
            index.add(len(index) + 1, work_id, algorithm, value, variant=variant)
    return index, titles, images


def _planted_copies(numbers: list[int], seed: int) -> tuple[list[dict[str, Any]], int]:
    """Altered copies of the sample works that the product's matcher finds, one per number."""
    from PIL import Image

    from matching.signal import ContentSkipped
    from matching.stages import match_content
    from swordnet.demo.site import ALTERATIONS

    index, titles, images = _sample_index()
    alterations = list(ALTERATIONS)
    rnd = random.Random(seed)
    planted, retried = [], 0
    for k, number in enumerate(numbers):
        title = list(images)[k % len(images)]
        alteration = alterations[(k // len(images)) % len(alterations)]
        for _attempt in range(8):
            scale = rnd.uniform(*PLANT_SCALES)
            work = images[title]
            scaled = work.resize((round(work.width * scale), round(work.height * scale)),
                                 Image.Resampling.LANCZOS)
            body = ALTERATIONS[alteration](scaled)
            try:
                found = {titles[m.work_id] for m in match_content(index, "image", body)}
            except ContentSkipped:
                found = set()
            if found == {title}:
                break
            retried += 1
        else:
            raise SystemExit(f"could not make a detectable {alteration} copy of {title}")
        planted.append({"path": image_path(number), "work": title, "alteration": alteration,
                        "scale": round(scale, 3), "bytes": len(body), "body": body})
    return planted, retried


def generate(root: Path, pages: int, images_per_page: int, planted_share: float = 0.015,
             seed: int = 7, workers: int | None = None) -> dict[str, Any]:
    """Write the site under ``root`` (once: an existing complete site is reused)."""
    manifest_file = root / MANIFEST
    params = {"pages": pages, "images_per_page": images_per_page,
              "planted_share": planted_share, "seed": seed, "version": GENERATOR_VERSION}
    if manifest_file.exists():
        manifest = json.loads(manifest_file.read_text())
        if manifest["params"] == params:
            return manifest
    started = time.perf_counter()
    (root / "img").mkdir(parents=True, exist_ok=True)
    images = pages * images_per_page
    rnd = random.Random(seed)
    planted_numbers = sorted(rnd.sample(range(images), round(images * planted_share)))
    planted, retried = _planted_copies(planted_numbers, seed)
    planted_set = set(planted_numbers)
    for copy in planted:
        _file_for(root, copy["path"]).write_bytes(copy.pop("body"))
    unrelated = [n for n in range(images) if n not in planted_set]
    workers = workers or os.cpu_count() or 1
    chunks = [unrelated[i:i + 500] for i in range(0, len(unrelated), 500)]
    with ProcessPoolExecutor(workers) as pool:
        image_bytes = sum(pool.map(_write_unrelated, [str(root)] * len(chunks),
                                   [seed] * len(chunks), chunks))
    image_bytes += sum(copy["bytes"] for copy in planted)
    page_bytes = 0
    for number in range(pages):
        shown = list(range(number * images_per_page, (number + 1) * images_per_page))
        body = _page_html(number, pages, shown, random.Random(seed * 7919 + number))
        file = _file_for(root, page_path(number))
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(body)
        page_bytes += len(body)
        for copy_number in planted_set.intersection(shown):
            planted[planted_numbers.index(copy_number)]["page"] = page_path(number)
    manifest = {
        "params": params, "pages": pages, "images": images,
        "page_bytes": page_bytes, "image_bytes": image_bytes,
        "planted": planted, "planted_regenerated": retried,
        "generated_in_s": round(time.perf_counter() - started, 1),
    }
    manifest_file.write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def site_paths(manifest: dict[str, Any]) -> list[str]:
    """Every page and image path of the site, pages first."""
    return ([page_path(n) for n in range(manifest["pages"])]
            + [image_path(n) for n in range(manifest["images"])])


# --- server ------------------------------------------------------------------------------------

def _response(status: str, content_type: str, body: bytes) -> bytes:
    return (f"HTTP/1.1 {status}\r\nServer: crawlsite\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n").encode() + body


NOT_FOUND = _response("404 Not Found", "text/plain", b"not found")


def load_responses(root: Path) -> dict[bytes, bytes]:
    """Every file under ``root`` as a complete prebuilt HTTP response, by request path."""
    responses = {}
    for file in root.rglob("*"):
        if not file.is_file() or file.name == MANIFEST:
            continue
        path = "/" + file.relative_to(root).as_posix()
        content_type = ("text/html; charset=utf-8" if file.suffix == ".html" else
                        "image/jpeg" if file.suffix == ".jpg" else "application/octet-stream")
        responses[path.encode()] = _response("200 OK", content_type, file.read_bytes())
    if b"/index.html" in responses:
        responses[b"/"] = responses[b"/index.html"]
    return responses


class _HttpProtocol(asyncio.Protocol):
    """HTTP/1.1 GET with keep-alive and pipelining; no request bodies."""

    def __init__(self, responses: dict[bytes, bytes]) -> None:
        self.responses = responses
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            parts = head.split(b"\r\n", 1)[0].split(b" ")
            path = parts[1].split(b"?", 1)[0] if len(parts) > 1 else b"/"
            self.transport.write(self.responses.get(path, NOT_FOUND))
            if b"connection: close" in head.lower():
                self.transport.close()
                return


async def _serve(root: Path, host: str, port: int) -> None:
    responses = load_responses(root)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _HttpProtocol(responses), host, port,
                                      backlog=1024)
    bound = server.sockets[0].getsockname()[1]
    print(f"serving http://{host}:{bound}/ ({len(responses)} files)", flush=True)
    async with server:
        await server.serve_forever()


# --- raw-fetch baseline ------------------------------------------------------------------------

async def _fetch_worker(host: str, port: int, paths: list[str]) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    received = 0
    for path in paths:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        received += len(await reader.readexactly(length))
    writer.close()
    return received


def fetch_all(host: str, port: int, paths: list[str], connections: int = 8) -> dict[str, float]:
    """GET every path over ``connections`` keep-alive connections; requests/s and MB/s."""
    async def run() -> int:
        shares = [paths[i::connections] for i in range(connections)]
        return sum(await asyncio.gather(*(_fetch_worker(host, port, s) for s in shares)))

    started = time.perf_counter()
    received = asyncio.run(run())
    seconds = time.perf_counter() - started
    return {"requests": len(paths), "seconds": round(seconds, 2),
            "requests_per_s": round(len(paths) / seconds, 1),
            "mb_per_s": round(received / seconds / 1e6, 1), "connections": connections}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write the site's files")
    gen.add_argument("root", type=Path)
    gen.add_argument("--pages", type=int, default=10_000)
    gen.add_argument("--images-per-page", type=int, default=2)
    gen.add_argument("--planted-share", type=float, default=0.015)
    serve = sub.add_parser("serve", help="serve a generated site until killed")
    serve.add_argument("root", type=Path)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.command == "generate":
        manifest = generate(args.root, args.pages, args.images_per_page, args.planted_share)
        print(json.dumps({k: v for k, v in manifest.items() if k != "planted"}, indent=1))
    else:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_serve(args.root, args.host, args.port))


if __name__ == "__main__":
    main()
