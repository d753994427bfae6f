"""Headless Chromium for the picture tests (Debian's ``chromium`` package; nothing is downloaded): run it on a
file with a time limit, read what the page logged to the console, decode its PNG screenshots with the stdlib.

Chromium prints each console message of the page on stderr with ``--enable-logging=stderr`` as a
``...:CONSOLE:...] "message", source: URL (line)`` line, whatever its level; a page that logs nothing has none.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import tempfile
import zlib
from pathlib import Path
from typing import NamedTuple

#: The executables Debian's package installs, in the order tried; CHROMIUM names another.
NAMES = ("chromium", "chromium-browser")
#: Each run's time limit (seconds).
TIMEOUT = 90
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
         "--enable-logging=stderr", "--v=0")


def find() -> str | None:
    """The Chromium executable, or None where none is installed."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named)
    return next((path for path in map(shutil.which, NAMES) if path), None)


class Run(NamedTuple):
    returncode: int
    stdout: str
    stderr: str

    @property
    def console(self) -> list[str]:
        """Every console message the page logged (errors, warnings, CSP violations, uncaught exceptions)."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line]


def run(page: Path, *args: str, window: tuple[int, int] = (1400, 900)) -> Run:
    """Chromium on ``page`` (a local file) with ``args`` (``--dump-dom``, ``--screenshot=PATH``), bounded by
    ``TIMEOUT``, in a fresh profile directory."""
    exe = find()
    assert exe is not None, "chromium is not installed"
    with tempfile.TemporaryDirectory(prefix="pconf-chromium-") as profile:
        done = subprocess.run(
            [exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={window[0]},{window[1]}", *args,
             page.resolve().as_uri()],
            capture_output=True, text=True, timeout=TIMEOUT, check=False, stdin=subprocess.DEVNULL)
    return Run(done.returncode, done.stdout, done.stderr)


class Image(NamedTuple):
    width: int
    height: int
    pixels: list[tuple[int, int, int]]  # row-major RGB


def decode_png(data: bytes) -> Image:
    """An 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes) as RGB pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert (depth, interlace) == (8, 0), (depth, interlace)
    assert colour in (2, 6), colour
    channels = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * channels
    previous = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            corner = previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[i] = (line[i] + pred) & 0xFF
        pixels += [(line[i], line[i + 1], line[i + 2]) for i in range(0, stride, channels)]
        previous = line
    return Image(width, height, pixels)
