"""Generated live media for the live tests and bench: a programme (the official feed's
content) and a pirate restream of it.

A programme's picture is :func:`bench.video.work_frames` (scenes of 2-5 s: pans across a
texture with shapes moving over it, different per seed) and its sound a sequence of short
generated pieces (:func:`bench.audiogen.music`, a new seed every few seconds, so no bar
repeats) under a seeded random melody; neither picture nor sound repeats, so every instant
of it has one place in the programme. ``ffmpeg`` encodes it as H.264 + AAC in MP4, with a
key frame every second so it cuts into HLS-like segments anywhere on a second.

Callers cache what these write (a session-scoped fixture): each takes seconds of CPU.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from bench.audiogen import RATE, music, write_audio
from bench.video import work_frames

FPS = 25
SIZE = (320, 180)
PIECE_S = 5.0  # each piece of music lasts this long; the next has another seed


def soundtrack(seed: int, seconds: float) -> np.ndarray:
    """Float samples at :data:`bench.audiogen.RATE`: generated pieces under a random melody."""
    rng = np.random.default_rng(seed)
    total = int(seconds * RATE)
    pieces = [music(seed * 10_007 + k, PIECE_S) for k in range(int(seconds // PIECE_S) + 1)]
    out = np.concatenate(pieces)[:total] * 0.6
    at = 0
    while at < total:  # a lead of random notes of random lengths
        length = int(RATE * float(rng.uniform(0.12, 0.5)))
        t = np.arange(min(length, total - at)) / RATE
        freq = 220.0 * 2 ** (float(rng.integers(0, 36)) / 12)
        out[at : at + len(t)] += 0.25 * np.sin(2 * np.pi * freq * t) * np.exp(-3 * t)
        at += length
    return np.clip(out, -1, 1)


def programme(path: Path, *, seconds: float, seed: int) -> Path:
    """Write programme ``seed`` (``seconds`` long) to ``path`` as MP4: H.264 + AAC."""
    with tempfile.TemporaryDirectory(prefix="swordnet-programme-") as folder:
        sound = write_audio(Path(folder) / "sound.wav", soundtrack(seed, seconds))
        width, height = SIZE
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
                   "-r", str(FPS), "-i", "-", "-i", str(sound),
                   "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
                   "-pix_fmt", "yuv420p", "-crf", "20", "-g", str(FPS), "-keyint_min", str(FPS),
                   "-sc_threshold", "0", "-c:a", "aac", "-b:a", "96k", "-shortest",
                   "-movflags", "+faststart", str(path)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdin is not None
        for frame in work_frames(seed, seconds, FPS, SIZE):
            process.stdin.write(np.ascontiguousarray(frame).tobytes())
        process.stdin.close()
        if process.wait():
            assert process.stderr is not None
            raise RuntimeError(f"ffmpeg could not write {path}: {process.stderr.read()!r:.300}")
    return path


def restream(src: Path, dst: Path, *, crop: float, logo: bool, video_bitrate: str,
             letterbox: bool = False) -> Path:
    """Write a pirate restream of ``src`` to ``dst`` (MP4): ``crop`` of the picture's width
    and height cut away (evenly around it), scaled down, a channel logo in the top-right
    corner if ``logo``, black bars above and below (a 4:3 frame) if ``letterbox``,
    re-encoded at ``video_bitrate`` with lower-rate sound."""
    keep = 1 - crop
    steps = [f"crop=trunc(iw*{keep:g}/2)*2:trunc(ih*{keep:g}/2)*2", "scale=256:144"]
    if logo:  # an opaque badge with a lighter inner bar, like a channel's mark
        steps += ["drawbox=x=iw*0.74:y=ih*0.05:w=iw*0.22:h=ih*0.12:color=0x2828C8:t=fill",
                  "drawbox=x=iw*0.76:y=ih*0.09:w=iw*0.18:h=ih*0.04:color=white:t=fill"]
    if letterbox:
        steps.append("pad=256:192:0:24")
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
               "-vf", ",".join(steps), "-c:v", "libx264", "-preset", "veryfast",
               "-b:v", video_bitrate, "-maxrate", video_bitrate, "-bufsize", video_bitrate,
               "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
               "-c:a", "aac", "-b:a", "48k", "-ar", "32000", str(dst)]
    subprocess.run(command, check=True, capture_output=True)
    return dst


def cut(src: Path, *, start: float, seconds: float, video: bool = True,
        audio: bool = True) -> bytes:
    """``seconds`` of ``src`` from ``start``, re-encoded as one MPEG-TS segment (what an HLS
    playlist lists), with its video or its audio left out if asked."""
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", f"{start:.3f}",
               "-i", str(src), "-t", f"{seconds:.3f}"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS)] if video else ["-vn"]
    command += ["-c:a", "aac", "-b:a", "64k"] if audio else ["-an"]
    command += ["-f", "mpegts", "-"]
    return subprocess.run(command, check=True, capture_output=True).stdout


def segments(src: Path, folder: Path, *, seconds: float = 4.0) -> list[Path]:
    """``src`` split (without re-encoding) into MPEG-TS segments of ``seconds``, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                    "-c", "copy", "-f", "segment", "-segment_time", f"{seconds:g}",
                    "-segment_format", "mpegts", "-reset_timestamps", "1",
                    str(folder / "%04d.ts")], check=True, capture_output=True)
    return sorted(folder.glob("*.ts"))
