"""Generated live media for the live tests and bench: a programme (the official feed's
content) and a pirate restream of it.

A programme's picture is :func:`bench.video.work_frames` (scenes of 2-5 s: pans across a
texture with shapes moving over it, different per seed) and its sound a sequence of short
generated pieces (:func:`bench.audiogen.music`, a new seed every few seconds, so no bar
repeats) under a seeded random melody; neither picture nor sound repeats, so every instant
of it has one place in the programme. ``ffmpeg`` encodes it as H.264 + AAC in MP4, with a
key frame every second so it cuts into HLS-like segments anywhere on a second.

The live matching tests and ``bench/live_matching.py`` use these, and so does the live world
(``tests/live_world.py``, at 10 frames a second: its bench decodes less).
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
# whatever the frame rate, so that HLS segments can be cut on any whole second
EVERY_SECOND_A_KEY_FRAME = ("-force_key_frames", "expr:gte(t,n_forced)", "-sc_threshold", "0")


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


def programme(path: Path, *, seconds: float, seed: int, fps: int = FPS) -> Path:
    """Write programme ``seed`` (``seconds`` long, ``fps`` frames a second) to ``path`` as
    MP4: H.264 + AAC."""
    with tempfile.TemporaryDirectory(prefix="swordnet-programme-") as folder:
        sound = write_audio(Path(folder) / "sound.wav", soundtrack(seed, seconds))
        width, height = SIZE
        command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y",
                   "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{width}x{height}",
                   "-r", str(fps), "-i", "-", "-i", str(sound),
                   "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "veryfast",
                   "-pix_fmt", "yuv420p", "-crf", "20", *EVERY_SECOND_A_KEY_FRAME,
                   "-c:a", "aac", "-b:a", "96k", "-shortest",
                   "-movflags", "+faststart", str(path)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        assert process.stdin is not None
        for frame in work_frames(seed, seconds, fps, SIZE):
            process.stdin.write(np.ascontiguousarray(frame).tobytes())
        process.stdin.close()
        if process.wait():
            assert process.stderr is not None
            raise RuntimeError(f"ffmpeg could not write {path}: {process.stderr.read()!r:.300}")
    return path


def restream(src: Path, dst: Path, *, crop: float, logo: bool, video_bitrate: str,
             letterbox: bool = False, banner: bool = False, seconds: float | None = None) -> Path:
    """Write a pirate restream of ``src`` (its first ``seconds`` if given) to ``dst`` (MP4):
    ``crop`` of the picture's width and height cut away (evenly around it), scaled down, a
    channel logo in the top-right corner if ``logo``, a translucent banner along the bottom if
    ``banner``, black bars above and below (a 4:3 frame) if ``letterbox``, re-encoded at
    ``video_bitrate`` with lower-rate sound; a key frame every second."""
    keep = 1 - crop
    steps = [f"crop=trunc(iw*{keep:g}/2)*2:trunc(ih*{keep:g}/2)*2", "scale=256:144"]
    if logo:  # an opaque badge with a lighter inner bar, like a channel's mark
        steps += ["drawbox=x=iw*0.74:y=ih*0.05:w=iw*0.22:h=ih*0.12:color=0x2828C8:t=fill",
                  "drawbox=x=iw*0.76:y=ih*0.09:w=iw*0.18:h=ih*0.04:color=white:t=fill"]
    if banner:  # a dark strip with a caption box, half see-through
        steps += ["drawbox=x=0:y=ih-30:w=iw:h=24:color=black@0.6:t=fill",
                  "drawbox=x=8:y=ih-26:w=90:h=16:color=white@0.8:t=fill"]
    if letterbox:
        steps.append("pad=256:192:0:24")
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
               "-vf", ",".join(steps), "-c:v", "libx264", "-preset", "veryfast",
               "-b:v", video_bitrate, "-maxrate", video_bitrate, "-bufsize", video_bitrate,
               *EVERY_SECOND_A_KEY_FRAME, "-c:a", "aac", "-b:a", "48k", "-ar", "32000"]
    if seconds is not None:
        command += ["-t", f"{seconds:g}"]
    subprocess.run([*command, str(dst)], check=True, capture_output=True)
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


def segment_hls(src: Path, directory: Path, *, segment_s: float, fmp4: bool = False,
                key: str | None = None, iv: str | None = None) -> Path:
    """Segment ``src`` (no re-encode) as ffmpeg's HLS muxer does for a live feed, into
    ``directory/index.m3u8`` and segments of about ``segment_s`` with continuous timestamps:
    MPEG-TS, or fragmented MP4 after ``init.mp4`` if ``fmp4``; AES-128 encrypted with ``key``
    (16 characters, written as ``key.bin``) and ``iv`` when given."""
    directory, src = directory.resolve(), src.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    encryption = ("-hls_enc", "1", "-hls_enc_key", key, "-hls_enc_key_url", "key.bin",
                  *(("-hls_enc_iv", iv) if iv else ())) if key else ()
    container = ("-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", "init.mp4") \
        if fmp4 else ()
    name = "seg%05d.m4s" if fmp4 else "seg%05d.ts"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
                    "-c", "copy", "-f", "hls", "-hls_time", f"{segment_s:g}",
                    "-hls_list_size", "0", *container, *encryption,
                    "-hls_segment_filename", str(directory / name),
                    str(directory / "index.m3u8")],
                   check=True, capture_output=True, timeout=600,
                   cwd=directory)  # where ffmpeg writes the key file and init.mp4
    return directory


def segments(src: Path, folder: Path, *, seconds: float = 4.0) -> list[Path]:
    """``src`` split (without re-encoding) into MPEG-TS segments of ``seconds``, in order (as
    :func:`segment_hls` writes them: one after the other, they decode as one clip)."""
    index = segment_hls(src, folder, segment_s=seconds) / "index.m3u8"
    return [folder.resolve() / line for line in index.read_text().splitlines()
            if line and not line.startswith("#")]
