"""What reading a page for stream URLs costs, next to reading it for links and media.

Run from the repository root::

    .venv/bin/python bench/stream_links.py [--repeat 50]

A crawl that works for a live event reads every page twice: for its links and media
(:func:`crawlers.extract.extract_page`) and for stream URLs
(:func:`crawlers.stream_links.find_streams`). Both are timed, one process, on generated pages
of the shapes pirate sites serve: a listing of 300 links, a watch page with a player's setup,
a page carrying 500 kB of minified inline script (a player's bundle, or not), a page of
embeds. Prints a table (ms per
page) and writes ``bench/results/stream_links.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import write_results  # noqa: E402
from crawlers.extract import extract_page  # noqa: E402
from crawlers.stream_links import find_streams  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "stream_links.json"
URL = "https://pirate.example/watch/final.html"


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>Final</title></head><body>{body}</body></html>"


def pages() -> dict[str, str]:
    """Generated pages by shape."""
    listing = "".join(f'<li><a href="/watch/{n}.html"><img src="/t/{n}.jpg">Match {n}</a></li>'
                      for n in range(300))
    player = ('<div id="player"></div><script>jwplayer("player").setup({"file":'
              '"https:\\/\\/cdn.example\\/live\\/final.m3u8","autostart":true,'
              '"sources":[{"file":"https:\\/\\/cdn.example\\/live\\/b","type":"hls"}]});'
              '</script>' + "".join(f'<a href="/watch/{n}.html">{n}</a>' for n in range(40)))
    minified = "var a=" + ",".join(f'"k{n}":"v{n}"' for n in range(25_000)) + ";"
    heavy = f"<script>{minified}</script><video src='/live/x.m3u8'></video>"
    bundle = f"<script>{minified}var hls=new Hls();hls.loadSource('/live/y.m3u8');</script>"
    embeds = "".join(f'<iframe src="https://player{n}.example/e/{n}"></iframe>'
                     f'<div data-config=\'{{"file": "/s/{n}.m3u8"}}\'></div>' for n in range(30))
    return {"listing (300 links)": _page(listing), "player setup": _page(player),
            "500 kB inline script": _page(heavy), "500 kB player bundle": _page(bundle),
            "30 embeds and configs": _page(embeds)}


def per_page_ms(read: Callable[[str, str], object], html: str, repeat: int) -> float:
    start = time.perf_counter()
    for _ in range(repeat):
        read(html, URL)
    return 1000 * (time.perf_counter() - start) / repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    rows = []
    print(f"{'page':<24} {'kB':>6} {'links+media ms':>15} {'streams ms':>11} {'streams':>8}")
    for name, html in pages().items():
        links_ms = per_page_ms(extract_page, html, args.repeat)
        streams_ms = per_page_ms(find_streams, html, args.repeat)
        found = len(find_streams(html, URL).streams)
        size_kb = len(html.encode()) / 1024
        print(f"{name:<24} {size_kb:>6.0f} {links_ms:>15.2f} {streams_ms:>11.2f} {found:>8}")
        rows.append({"page": name, "kb": round(size_kb, 1), "extract_page_ms": round(links_ms, 3),
                     "find_streams_ms": round(streams_ms, 3), "streams": found})
    write_results(RESULTS, {"repeat": args.repeat, "python": platform.python_version(),
                            "machine": platform.machine(), "pages": rows})


if __name__ == "__main__":
    main()
