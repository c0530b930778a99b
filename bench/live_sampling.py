"""Sampling live streams: the CPU one sample costs (playlists fetched and parsed, one segment
read), against a real HTTP server on 127.0.0.1, and parsing alone.

Run from the repository root::

    .venv/bin/python bench/live_sampling.py [--streams 50] [--rounds 4] [--segment-kb 1000]
                                            [--output bench/results/live_sampling.json]

Writes an HLS master playlist, its live media playlist (six 4 s segments of
``--segment-kb`` each, about 2 Mbit/s) and a live DASH MPD into a temporary directory, serves
it with ``python -m http.server`` in its own process (so the server's CPU is not counted),
and samples ``--streams`` stream URLs ``--rounds`` times from 8 threads, as a live checker
would. CPU is this process's (all threads); the issue's pace is one sample per stream every
30 s, so a sample's CPU over 30 s is the share of one core a stream takes. Prints a table and
writes ``bench/results/live_sampling.json``.
"""

from __future__ import annotations

import argparse
import platform
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.report import write_results  # noqa: E402
from matching.playlists import parse_playlist  # noqa: E402
from swordnet.core.outbound import AddressPolicy  # noqa: E402
from swordnet.live.sampler import StreamSampler  # noqa: E402

START = datetime(2026, 12, 6, 15, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=30)
PACE_S = 30.0


def write_site(root: Path, segment_kb: int) -> None:
    (root / "master.m3u8").write_text(
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=6000000,RESOLUTION=1920x1080\nhd.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=2000000,RESOLUTION=640x360\nlive.m3u8\n")
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:4", "#EXT-X-MEDIA-SEQUENCE:1000",
             "#EXT-X-PROGRAM-DATE-TIME:2026-12-06T15:29:36Z"]
    for number in range(1000, 1006):
        lines += ["#EXTINF:4.000,", f"seg{number}.ts"]
        (root / f"seg{number}.ts").write_bytes(bytes([number % 256]) * (segment_kb * 1000))
    (root / "live.m3u8").write_text("\n".join(lines) + "\n")
    (root / "manifest.mpd").write_text(
        f'<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="dynamic" '
        f'availabilityStartTime="{START.isoformat()}" timeShiftBufferDepth="PT30S">'
        '<Period start="PT0S"><AdaptationSet mimeType="video/mp4" codecs="avc1.64001f,mp4a.40.2">'
        '<SegmentTemplate timescale="1000" duration="4000" media="dash/$Number$.m4s" '
        'initialization="dash/init.mp4"/><Representation id="v" bandwidth="2000000"/>'
        '<Representation id="hd" bandwidth="6000000"/></AdaptationSet></Period></MPD>')
    (root / "dash").mkdir()
    (root / "dash" / "init.mp4").write_bytes(b"\0" * 1000)
    (root / "dash" / "450.m4s").write_bytes(b"\1" * (segment_kb * 1000))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("the HTTP server did not start")


def sample_all(sampler: StreamSampler, urls: list[str], rounds: int) -> dict[str, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        for _ in range(rounds):
            outcomes = list(pool.map(lambda url: sampler.sample(url).outcome, urls))
            assert set(outcomes) == {"ok"}, outcomes
    samples = len(urls) * rounds
    cpu_ms = 1000 * (time.process_time() - cpu) / samples
    return {"samples": samples, "cpu_ms_per_sample": round(cpu_ms, 2),
            "wall_ms_per_sample": round(1000 * (time.perf_counter() - wall) / samples, 2),
            "core_share_per_stream_pct": round(100 * cpu_ms / 1000 / PACE_S, 3)}


def parse_cost(text: str, url: str, repeats: int = 2000) -> float:
    cpu = time.process_time()
    for _ in range(repeats):
        parse_playlist(text, url, now=NOW)
    return round(1e6 * (time.process_time() - cpu) / repeats, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--segment-kb", type=int, default=1000)
    parser.add_argument("--output", type=Path,
                        default=REPO / "bench" / "results" / "live_sampling.json")
    args = parser.parse_args()
    rows: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_site(root, args.segment_kb)
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1",
                                   "--directory", tmp, str(port)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_listening(port)
            sampler = StreamSampler(AddressPolicy.from_text("127.0.0.1/32"),
                                    clock=lambda: NOW,
                                    resolve=lambda host, port: ["127.0.0.1"])
            base = f"http://streams.test:{port}"
            for label, path in (("HLS master+media+segment", "/master.m3u8"),
                                ("DASH MPD+init+segment", "/manifest.mpd")):
                urls = [f"{base}{path}?stream={n}" for n in range(args.streams)]
                rows[label] = sample_all(sampler, urls, args.rounds)
            parse_us = {"hls_media_6_segments": parse_cost((root / "live.m3u8").read_text(),
                                                           f"{base}/live.m3u8"),
                        "dash_mpd": parse_cost((root / "manifest.mpd").read_text(),
                                               f"{base}/manifest.mpd")}
        finally:
            server.terminate()
            server.wait()
    print(f"{'stream':<28}{'samples':>8}{'CPU ms':>8}{'wall ms':>9}{'core %/stream':>15}")
    for label, row in rows.items():
        print(f"{label:<28}{row['samples']:>8}{row['cpu_ms_per_sample']:>8}"
              f"{row['wall_ms_per_sample']:>9}{row['core_share_per_stream_pct']:>15}")
    print(f"parse only: HLS media {parse_us['hls_media_6_segments']} us, "
          f"DASH MPD {parse_us['dash_mpd']} us")
    write_results(args.output, {
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or
                    platform.machine()},
        "streams": args.streams, "rounds": args.rounds, "segment_kb": args.segment_kb,
        "pace_s": PACE_S, "sampling": rows, "parse_us": parse_us})


if __name__ == "__main__":
    main()
