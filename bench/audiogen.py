"""Generated audio for the audio signal's tests and bench: music, speech, noise, files.

Music (:func:`music`) is synthesised with numpy from a seed: a key, a tempo, a four-chord
progression and four instruments (a bass line, a chord pad, a melody, drums), so every
seed is a different piece with the structure real music has (repetition, beats, chords).
Speech comes from Debian's ``espeak-ng``. Files are written by ``ffmpeg``.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

RATE = 22_050
_MAJOR = (0, 2, 4, 5, 7, 9, 11)
_MINOR = (0, 2, 3, 5, 7, 8, 10)
_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 4), (1, 4, 0, 5))


def _hz(midi: float) -> float:
    return float(440.0 * 2 ** ((midi - 69) / 12))


def _tone(freq: float, length: int, rate: int, harmonics: tuple[float, ...],
          decay: float) -> np.ndarray:
    t = np.arange(length) / rate
    wave = sum(a * np.sin(2 * np.pi * freq * (k + 1) * t) for k, a in enumerate(harmonics))
    return np.asarray(wave * np.exp(-decay * t), dtype=np.float64)


def music(seed: int, seconds: float, rate: int = RATE) -> np.ndarray:
    """A generated piece of ``seconds`` (float samples in [-1, 1]), different per seed."""
    rng = np.random.default_rng(seed)
    total = int(seconds * rate)
    out = np.zeros(total + rate, dtype=np.float64)
    root = int(rng.integers(45, 57))
    scale = _MAJOR if rng.random() < 0.5 else _MINOR
    progression = _PROGRESSIONS[int(rng.integers(len(_PROGRESSIONS)))]
    beat = int(rate * 60 / float(rng.uniform(72, 168)))
    timbre = tuple(float(a) for a in rng.uniform(0.1, 1.0, 4))
    lead_timbre = tuple(float(a) for a in rng.uniform(0.05, 1.0, 3))
    melody = rng.integers(0, 7, 16)
    rhythm = rng.choice([1, 1, 2, 2, 4], 16)
    bar = 4 * beat
    for bar_start in range(0, total, bar):
        number = bar_start // bar
        degree = progression[number % 4]
        chord = [root + 12 + scale[(degree + k) % 7] + 12 * ((degree + k) // 7)
                 for k in (0, 2, 4)]
        length = min(bar, len(out) - bar_start)
        for note in chord:  # the pad
            out[bar_start:bar_start + length] += 0.12 * _tone(_hz(note), length, rate,
                                                              timbre, 0.6)
        for b in range(4):  # bass on every beat, kick and hat
            at = bar_start + b * beat
            if at >= total:
                break
            n = min(beat, len(out) - at)
            out[at:at + n] += 0.25 * _tone(_hz(chord[0] - 12), n, rate, (1.0, 0.5), 3.0)
            kick = min(n, rate // 8)
            t = np.arange(kick) / rate
            out[at:at + kick] += 0.5 * np.sin(2 * np.pi * (60 + 90 * np.exp(-30 * t)) * t) \
                * np.exp(-20 * t)
            hat = min(n, rate // 20)
            at2 = at + beat // 2
            if at2 + hat < len(out):
                out[at2:at2 + hat] += 0.08 * rng.standard_normal(hat) * np.exp(
                    -60 * np.arange(hat) / rate)
        if number % 4 == 0 and number:  # a new phrase: its melody varies the last one's
            changed = rng.random(16) < 0.5
            melody = np.where(changed, rng.integers(0, 7, 16), melody)
            rhythm = np.where(changed, rng.choice([1, 1, 2, 2, 4], 16), rhythm)
        at = bar_start  # the melody
        for k in range(16):
            step = beat * int(rhythm[(k + number * 3) % 16]) // 2
            if at + step > bar_start + bar or at >= total:
                break
            degree_note = int(melody[(k + 4 * (number % 4)) % 16])
            note = root + 24 + scale[degree_note]
            n = min(step, len(out) - at)
            velocity = float(rng.uniform(0.5, 1.0))
            out[at:at + n] += 0.2 * velocity * _tone(_hz(note), n, rate, lead_timbre, 4.0)
            at += step
    out = out[:total]
    return out / max(1e-9, float(np.abs(out).max())) * 0.8


def speech(text: str, voice: str = "en", speed: int = 160, rate: int = RATE) -> np.ndarray:
    """``text`` spoken by espeak-ng, as float samples at ``rate``."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "s.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text],
                       check=True, capture_output=True)
        return read_pcm(wav, rate)


def read_pcm(path: Path, rate: int = RATE) -> np.ndarray:
    """Any audio file decoded by ffmpeg to mono float samples at ``rate``."""
    raw = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", str(path),
                          "-ac", "1", "-ar", str(rate), "-f", "s16le", "-"],
                         check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768


def write_audio(path: Path, samples: np.ndarray, rate: int = RATE,
                args: tuple[str, ...] = ()) -> Path:
    """Write float samples (mono, or ``(n, channels)``) to ``path``, encoded as ffmpeg
    chooses for its extension (``args`` adds output options: codec, bitrate, rate)."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    channels = 1 if pcm.ndim == 1 else pcm.shape[1]
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "s16le",
                    "-ar", str(rate), "-ac", str(channels), "-i", "-", *args, str(path)],
                   input=pcm.tobytes(), check=True, capture_output=True)
    return path
