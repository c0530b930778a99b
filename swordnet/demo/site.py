"""A generated "pirate site" for the demo and the crawl tests, served on 127.0.0.1.

:func:`build_demo_site` lays out pages that embed altered copies of the given works in
every way the site spider must understand (``img src``, ``srcset``, lazy ``data-src``,
``<picture>``, ``og:image``, inline and ``<style>`` CSS backgrounds) among unrelated images,
plus resources that fail (a 500 page, a 404 image, a corrupt image). It records exactly
which copy of which work sits at which URL, so a test can demand that hit set and no other.
Given a text work, it also reposts one chapter as a pirate novel site would, and a
download page names the first image work next to magnet, torrent and cloud-drive links.
"""

from __future__ import annotations

import html
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from hashlib import sha256
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from PIL import Image, ImageDraw, ImageFont, ImageOps

from swordnet.demo.samples import artwork


def _jpeg(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def _watermark(image: Image.Image) -> Image.Image:
    marked = image.convert("RGBA")
    overlay = Image.new("RGBA", marked.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    width, height = marked.size
    font = ImageFont.load_default(size=max(12, height // 14))
    draw.rectangle([0, int(height * 0.86), width, height], fill=(0, 0, 0, 110))
    draw.text((width * 0.04, height * 0.88), "FREEARTZ.example - free HD", font=font,
              fill=(255, 255, 255, 230))
    return Image.alpha_composite(marked, overlay)


def _crop(image: Image.Image, fraction: float) -> Image.Image:
    width, height = image.size
    dx, dy = round(width * fraction), round(height * fraction)
    return image.crop((dx, dy, width - dx, height - dy))


def _screenshot(image: Image.Image) -> Image.Image:
    """The work at 60% of the width of a 1024 px page-like screenshot, below some text."""
    canvas = Image.new("RGB", (1024, 720), (246, 246, 246))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle([0, 0, 1024, 56], fill=(32, 48, 96))
    draw.text((24, 14), "FreeArtz forum - [HD] new wallpapers thread", fill=(255, 255, 255),
              font=ImageFont.load_default(size=22))
    for line in range(6):
        draw.text((24, 76 + line * 22), "re: thanks for the upload, full size below " * 2,
                  fill=(40, 40, 40), font=ImageFont.load_default(size=14))
    scaled = image.resize((614, round(614 * image.height / image.width)), Image.Resampling.LANCZOS)
    canvas.paste(scaled, (40, 220))
    return canvas


Alteration = Callable[[Image.Image], bytes]

#: The mild alterations pirate sites apply, each producing the bytes served. A global
#: perceptual hash (matching stage 1) settles these.
MILD_ALTERATIONS: dict[str, Alteration] = {
    "reencoded": lambda im: _jpeg(im, 35),
    "resized": lambda im: _jpeg(im.resize((im.width // 2, im.height // 2),
                                          Image.Resampling.LANCZOS), 80),
    "watermarked": lambda im: _jpeg(_watermark(im), 85),
    "cropped": lambda im: _jpeg(_crop(im, 0.02), 85),  # 96% of each side
    "mirrored": lambda im: _jpeg(ImageOps.mirror(im), 85),
}
#: Alterations that defeat a global hash and need local features (matching stage 2).
HARD_ALTERATIONS: dict[str, Alteration] = {
    "cropped-hard": lambda im: _jpeg(_crop(im, 0.125), 85),  # 75% of each side
    "in-a-screenshot": lambda im: _jpeg(_screenshot(im), 85),
}
ALTERATIONS: dict[str, Alteration] = {**MILD_ALTERATIONS, **HARD_ALTERATIONS}

EMBEDDINGS = ("img", "srcset", "lazy", "picture", "css-inline", "css-block", "og-image")


@dataclass(frozen=True)
class PlantedCopy:
    """An altered copy of a registered work placed on the site."""

    work_title: str
    alteration: str
    image_path: str
    page_path: str
    embedding: str


@dataclass(frozen=True)
class Resource:
    """One response the site gives: status, Content-Type (None sends none), body, headers.

    ``sized=False`` sends no Content-Length: the body ends when the connection closes."""

    status: int
    content_type: str | None
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    sized: bool = True


# A dynamic part of a site: (path, query string) -> the response.
Route = Callable[[str, str], Resource]


@dataclass
class DemoSite:
    """The site's files by path, dynamic routes by path prefix, and what was planted where."""

    files: dict[str, Resource] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    planted: list[PlantedCopy] = field(default_factory=list)
    unrelated: list[str] = field(default_factory=list)

    def add(self, path: str, body: bytes, content_type: str | None, status: int = 200,
            headers: tuple[tuple[str, str], ...] = ()) -> None:
        self.files[path] = Resource(status, content_type, body, headers)

    def respond(self, path: str, query: str) -> Resource:
        if path in self.files:
            return self.files[path]
        for prefix in sorted(self.routes, key=len, reverse=True):
            if path.startswith(prefix):
                return self.routes[prefix](path, query)
        return Resource(404, "text/plain", b"not found")

    @property
    def page_paths(self) -> list[str]:
        return [p for p, r in self.files.items() if (r.content_type or "").startswith("text/html")]


def _image_path(body: bytes) -> str:
    return f"/media/{sha256(body).hexdigest()[:16]}.jpg"


def _embed(embedding: str, path: str, alt: str, small_path: str | None = None) -> str:
    alt = html.escape(alt)
    if embedding == "img":
        return f'<img src="{path}" alt="{alt}">'
    if embedding == "srcset":
        return (f'<img src="{small_path}" srcset="{small_path} 240w, {path} 480w" '
                f'sizes="(max-width: 600px) 240px, 480px" alt="{alt}">')
    if embedding == "lazy":
        return f'<img class="lazy" src="/static/spacer.gif" data-src="{path}" alt="{alt}">'
    if embedding == "picture":
        return (f'<picture><source srcset="{path}" type="image/jpeg">'
                f'<img src="/static/spacer.gif" alt="{alt}"></picture>')
    if embedding == "css-inline":
        return f'<div class="hero" style="background-image: url(\'{path}\')" title="{alt}"></div>'
    if embedding == "css-block":
        return f'<div class="banner-{sha256(path.encode()).hexdigest()[:6]}" title="{alt}"></div>'
    raise ValueError(f"unknown embedding {embedding!r}")


def _page(title: str, body: str, head_extra: str = "", style: str = "") -> bytes:
    nav = ('<nav><a href="/">Home</a> | <a href="/gallery/1.html">New</a> | '
           '<a href="/about.html">About</a> | <a href="//127.0.0.2/">Partner mirror</a></nav>')
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title>{head_extra}<style>{style}</style></head>"
        f"<body>{nav}<h1>{html.escape(title)}</h1>{body}"
        "<footer>All content uploaded by users. Ads: casino-bonus.example</footer>"
        "</body></html>"
    ).encode()


AD_LINES = ["Read the next chapter free on our app!", "Casino bonus: 200 free spins today.",
            "Click here: hot singles in your area.", "VPN 90% off - limited offer."]


def repost_chapter(heading: str, paragraphs: list[str]) -> str:
    """A chapter as pirate novel sites repost it: paragraphs in another order, an ad after
    every fourth sentence, straight quotes and dashes swapped, extra whitespace."""
    shown = paragraphs[1:] + paragraphs[:1]
    body = []
    count = 0
    for paragraph in shown:
        sentences = [s.strip() for s in paragraph.replace("?", "?.").split(". ") if s.strip()]
        kept = []
        for sentence in sentences:
            count += 1
            kept.append(sentence.rstrip("."))
            if count % 4 == 0:
                kept.append(AD_LINES[count // 4 % len(AD_LINES)])
        text = " . ".join(kept).replace("'", "\u2019").replace(",", " ,")
        body.append(f"<p>  {html.escape(text)}  </p>")
    return (f'<div class="chapter"><h2>{html.escape(heading)}</h2>{"".join(body)}</div>'
            '<div class="comments"><h3>Comments</h3><p>first!</p><p>update faster pls</p>'
            '</div>')


def _spacer_gif() -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (1, 1), 255).save(buffer, "GIF")
    return buffer.getvalue()


def build_demo_site(
    works: list[tuple[str, Image.Image]],
    *,
    alterations: tuple[str, ...] = tuple(ALTERATIONS),
    unrelated_count: int = 12,
    pages: int = 4,
    novel: tuple[str, list[tuple[str, list[str]]]] | None = None,
    download_page: bool = False,
) -> DemoSite:
    """Lay out the site: every work appears once under each alteration, spread over pages.

    ``novel`` is a text work's title and its chapters (heading, paragraphs): the third
    chapter (or the last) is reposted at ``/read/3.html``. ``download_page`` adds
    ``/downloads.html``, naming the first work next to download links (a link-only copy).
    """
    site = DemoSite()
    site.add("/static/spacer.gif", _spacer_gif(), "image/gif")
    blocks: list[list[str]] = [[] for _ in range(pages)]
    styles: list[list[str]] = [[] for _ in range(pages)]
    og_images: list[str | None] = [None] * pages

    copies = [(title, image, alt) for title, image in works for alt in alterations]
    for n, (title, image, alteration) in enumerate(copies):
        body = ALTERATIONS[alteration](image)
        path = _image_path(body)
        site.add(path, body, "image/jpeg")
        page = n % pages
        embedding = EMBEDDINGS[n % len(EMBEDDINGS)]
        if embedding == "og-image" and og_images[page] is not None:
            embedding = "img"
        page_path = f"/gallery/{page + 1}.html"
        site.planted.append(PlantedCopy(title, alteration, path, page_path, embedding))
        if embedding == "og-image":
            og_images[page] = path
            continue
        small_path = None
        if embedding == "srcset":
            small = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
            small_body = _jpeg(small, 60)
            small_path = _image_path(small_body)
            # The small candidate of a srcset is not fetched: the spider takes the largest.
            site.add(small_path, small_body, "image/jpeg")
        if embedding == "css-block":
            selector = f".banner-{sha256(path.encode()).hexdigest()[:6]}"
            styles[page].append(f"{selector} {{ background: #000 url({path}) no-repeat; }}")
        blocks[page].append(f"<figure>{_embed(embedding, path, f'HD wallpaper {n}', small_path)}"
                            f"<figcaption>Wallpaper #{n} - download free</figcaption></figure>")

    for n in range(unrelated_count):
        body = _jpeg(artwork(5000 + n), 80)
        path = _image_path(body)
        site.add(path, body, "image/jpeg")
        site.unrelated.append(path)
        blocks[n % pages].append(f'<img src="{path}" alt="Ad {n}">')

    site.add("/media/missing.jpg", b"not found", "text/plain", status=404)
    site.add("/media/corrupt.jpg", b"\xff\xd8\xff\xe0 this is not really a jpeg", "image/jpeg")
    blocks[0].append('<img src="/media/missing.jpg" alt="gone"><img src="/media/corrupt.jpg">')
    site.add("/broken.html", b"<h1>Internal Server Error</h1>", "text/html", status=500)

    for page in range(pages):
        head = ""
        if og_images[page]:
            head = f'<meta property="og:image" content="{og_images[page]}">'
        links = " ".join(f'<a href="/gallery/{p + 1}.html">Page {p + 1}</a>' for p in range(pages))
        site.add(f"/gallery/{page + 1}.html",
                 _page(f"HD wallpapers - page {page + 1}", "".join(blocks[page]) + links,
                       head, " ".join(styles[page])), "text/html; charset=utf-8")
    index_links = "".join(f'<li><a href="gallery/{p + 1}.html">Gallery {p + 1}</a></li>'
                          for p in range(pages))
    if novel is not None:
        title, chapters = novel
        heading, paragraphs = chapters[min(2, len(chapters) - 1)]
        site.add("/read/3.html", _page(f"{title} - free online novel",
                                       repost_chapter(heading, paragraphs)),
                 "text/html; charset=utf-8")
        index_links += '<li><a href="/read/3.html">Free novels: read online</a></li>'
    if download_page and works:
        name = works[0][0]
        downloads = (
            f"<h2>{html.escape(name)} (2026) 4K wallpaper pack</h2><ul>"
            '<li><a href="magnet:?xt=urn:btih:2f1e0c7d3b9a8e6f5d4c3b2a1908f7e6d5c4b3a2">'
            "Magnet link</a></li><li><a href=\"/dl/pack.torrent\">Torrent file</a></li>"
            '<li><a href="https://pan.baidu.com/s/1demoPack">Cloud drive (code: 8x2k)</a></li>'
            "</ul>")
        site.add("/downloads.html", _page("Downloads - FreeArtz", downloads),
                 "text/html; charset=utf-8")
        index_links += '<li><a href="/downloads.html">Downloads</a></li>'
    site.add("/", _page("FreeArtz - free HD wallpapers",
                        f'<ul>{index_links}<li><a href="/broken.html">Old forum</a></li></ul>'),
             "text/html; charset=utf-8")
    site.add("/about.html", _page("About FreeArtz", "<p>We host nothing. Honest.</p>"),
             "text/html; charset=utf-8")
    return site


class _Handler(BaseHTTPRequestHandler):
    server: _SiteHTTPServer

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        path, _, query = self.path.split("#", 1)[0].partition("?")
        self.server.requests.append(path)
        if self.server.delay_s:
            time.sleep(self.server.delay_s)
        resource = self.server.site.respond(path, query)
        self.send_response(resource.status)
        if resource.content_type is not None:
            self.send_header("Content-Type", resource.content_type)
        for name, value in resource.headers:
            self.send_header(name, value)
        if resource.sized:
            self.send_header("Content-Length", str(len(resource.body)))
        self.end_headers()
        with suppress(ConnectionError):  # the client stopped reading (past its size cap)
            self.wfile.write(resource.body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the demo's and the tests' output clean."""


class _SiteHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, site: DemoSite, host: str, port: int, delay_s: float) -> None:
        super().__init__((host, port), _Handler)
        self.site = site
        self.delay_s = delay_s
        self.requests: list[str] = []


@dataclass
class RunningSite:
    site: DemoSite
    url: str
    server: _SiteHTTPServer

    @property
    def requests(self) -> list[str]:
        """Paths requested so far, in order."""
        return self.server.requests


@contextmanager
def serve_site(site: DemoSite, host: str = "127.0.0.1", port: int = 0,
               delay_s: float = 0.0) -> Iterator[RunningSite]:
    """Serve ``site`` over HTTP on ``host`` (a free port by default) while the block runs;
    ``delay_s`` slows every response down (for tests that stop a crawl midway)."""
    server = _SiteHTTPServer(site, host, port, delay_s)
    thread = threading.Thread(target=server.serve_forever, name="demo-site", daemon=True)
    thread.start()
    try:
        yield RunningSite(site, f"http://{host}:{server.server_address[1]}/", server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
