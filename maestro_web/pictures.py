"""A stored picture (SVG) turned into a PNG, in a child process that cannot take the web process down.

Worker SVG is untrusted (SPEC §5), and the sanitizer (ingest/svg.py) cannot know every
costly drawing: resvg panics on some numbers (a Rust panic arrives in Python as a BaseException,
which ends a gunicorn worker), and a small document can ask for minutes of blending. So the web
process never rasterizes. `svg_to_png` runs `python -m maestro_web.pictures` with the SVG on stdin;
the child limits itself (CPU time, address space, no core file) before it imports resvg, and the
parent kills it after WALL_SECONDS. A picture that fails is an `Unrenderable` (the routes answer 422
with the SVG link), never an exception that reaches the server.

One render per picture at a time, host-wide: a picture is keyed by the SHA-256 of its text; the
render holds an flock on that key's lock file in `directory` (shared by the processes of one app),
so concurrent requests for the same picture wait for the one render and then read its outcome
(PNG or refusal) from the same directory; at most RENDER_SLOTS renders run at once. A request that
cannot get its turn within WAIT_SECONDS gets `RendererBusy` (503 + Retry-After). Each process also
keeps its last PNG_CACHE_SIZE outcomes in memory.

No Flask and no database here (.importlinter): the child imports only this module and resvg.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from collections import OrderedDict
from collections.abc import Iterator

log = logging.getLogger(__name__)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

PNG_ZOOM = 2.0  # pixels per SVG unit: crisp labels on high-density screens and in documents
MAX_SIDE = 12_000  # pixels, either side
# width × height: 32 MB of RGBA while drawing, and a few seconds of rasterizing on one core (see
# docs/benchmarks.md); a bigger graph's PNG is an overview, its SVG the full-resolution file.
MAX_PIXELS = 8_000_000
# Rasterizing time grows with the drawing's paths, not only its pixels: a 1,000-node picture takes
# 10-20 s on one busy core. Above this size the PNG is refused with a pointer to the SVG, which any
# browser or editor opens, without starting a child at all.
MAX_PNG_SVG_BYTES = 1_000_000

# The child's limits. A 300-node picture costs 1.3 s of CPU (docs/benchmarks.md), the largest
# accepted SVG a few seconds; under heavy load its wall time is up to ten times its CPU time.
CPU_SECONDS = 10  # read when a child starts (tests/test_hostile_pictures.py lowers it in its app process)
MEMORY_BYTES = 1024 * 1024 * 1024  # address space: the interpreter, resvg, an 8 MP canvas and its layers
WALL_SECONDS = 25  # then the parent kills it: a child stopped (not spending CPU) cannot hold a request longer
RENDER_SLOTS = 2  # renders at once per directory (the host's app): each may use a core for CPU_SECONDS
WAIT_SECONDS = WALL_SECONDS + 5  # for this picture's render elsewhere, or for a free slot; then 503
RETRY_AFTER_SECONDS = 10
PNG_CACHE_SIZE = 8  # recent outcomes kept per process: a picture shared widely is rasterized once
DISK_CACHE_SIZE = 32  # PNGs kept in `directory`, shared by the app's processes
FAILURE_SECONDS = 600  # a refusal is remembered this long (a timeout on a loaded machine may pass)

# The child's exit statuses, and what each tells the visitor's page and the log.
_NO_SIZE, _FAILED, _NO_MEMORY = 2, 3, 4
_REASONS = {
    _NO_SIZE: "the picture declares no usable size",
    _FAILED: "the renderer failed on it",
    _NO_MEMORY: "it needs more memory than a render may use",
}


class Unrenderable(Exception):
    """The picture cannot be turned into a PNG here; `reason` says why (for the log and the page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RendererBusy(Exception):
    """This picture's render (or a free render slot) did not come within WAIT_SECONDS: retry later."""

    retry_after = RETRY_AFTER_SECONDS


# --- sizes (run in the child, and by tests) -------------------------------------------------------


def picture_size(svg: str) -> tuple[float, float]:
    """The drawing's width and height in SVG units, from its viewBox (or width/height)."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError:
        raise Unrenderable(_REASONS[_NO_SIZE]) from None
    box = (root.get("viewBox") or "").replace(",", " ").split()
    try:
        if len(box) == 4:
            width, height = float(box[2]), float(box[3])
        else:
            width, height = float(root.get("width", "")), float(root.get("height", ""))
    except ValueError:
        raise Unrenderable(_REASONS[_NO_SIZE]) from None
    if not (0 < width < float("inf") and 0 < height < float("inf")):
        raise Unrenderable(_REASONS[_NO_SIZE])
    return width, height


def png_scale(width: float, height: float) -> float:
    """PNG_ZOOM, or less so that neither side passes MAX_SIDE nor the area MAX_PIXELS."""
    return min(PNG_ZOOM, MAX_SIDE / width, MAX_SIDE / height, (MAX_PIXELS / (width * height)) ** 0.5)


def png_pixels(svg: str) -> tuple[int, int]:
    """The PNG's width and height in pixels: the drawing at png_scale, at least one pixel each way."""
    width, height = picture_size(svg)
    scale = png_scale(width, height)
    return max(1, int(width * scale)), max(1, int(height * scale))


# --- the parent: cache, one render per picture, the child ----------------------------------------

_memory: OrderedDict[str, bytes | Unrenderable] = OrderedDict()
_memory_lock = threading.Lock()


def svg_to_png(svg: str, directory: str | None = None) -> bytes:
    """The PNG of a stored picture, or Unrenderable / RendererBusy. Never raises anything else for
    a hostile picture: the rasterizing happens in a limited child process.

    `directory` holds the lock files and outcomes shared by the app's processes (the app passes
    its instance folder); by default a private folder in the system's temporary directory.
    """
    if len(svg) > MAX_PNG_SVG_BYTES:
        raise Unrenderable("the picture is too large to turn into a PNG here")
    key = hashlib.sha256(svg.encode("utf-8", "surrogatepass")).hexdigest()
    outcome = _remembered(key)
    if outcome is None:
        folder = _folder(directory)
        with _flock(os.path.join(folder, f"picture-{key[:3]}.lock")):  # 4,096 locks: a rare clash only waits
            outcome = _remembered(key) or _stored(folder, key)
            if outcome is None:
                with _slot(folder):
                    outcome = _render(svg)
                _store(folder, key, outcome)
                if isinstance(outcome, Unrenderable):  # logged once, by the render that found it
                    log.warning("PNG not rendered for picture sha256:%s: %s", key[:16], outcome.reason)
            _remember(key, outcome)
    if isinstance(outcome, Unrenderable):
        raise Unrenderable(outcome.reason)
    return outcome


def clear_cache() -> None:
    """Forget this process's remembered outcomes (benchmarks measure cold renders with it)."""
    with _memory_lock:
        _memory.clear()


def _remembered(key: str) -> bytes | Unrenderable | None:
    with _memory_lock:
        outcome = _memory.get(key)
        if outcome is not None:
            _memory.move_to_end(key)
        return outcome


def _remember(key: str, outcome: bytes | Unrenderable) -> None:
    with _memory_lock:
        _memory[key] = outcome
        _memory.move_to_end(key)
        while len(_memory) > PNG_CACHE_SIZE:
            _memory.popitem(last=False)


def _folder(directory: str | None) -> str:
    folder = directory or os.path.join(tempfile.gettempdir(), f"maestro-web-pictures-{os.getuid()}")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    return folder


@contextlib.contextmanager
def _flock(path: str) -> Iterator[None]:
    """Hold an exclusive flock on `path`, waiting up to WAIT_SECONDS (each call its own descriptor,
    so threads of one process wait for each other too)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not _try_lock(fd):
            if time.monotonic() > deadline:
                raise RendererBusy()
            time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


@contextlib.contextmanager
def _slot(folder: str) -> Iterator[None]:
    """One of RENDER_SLOTS render slots of this folder, waiting up to WAIT_SECONDS."""
    fds = [
        os.open(os.path.join(folder, f"slot-{n}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        for n in range(RENDER_SLOTS)
    ]
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while not any(_try_lock(fd) for fd in fds):
            if time.monotonic() > deadline:
                raise RendererBusy()
            time.sleep(0.05)
        yield
    finally:
        for fd in fds:
            os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise


def _stored(folder: str, key: str) -> bytes | Unrenderable | None:
    """The outcome another process stored for this picture, if any (a refusal only while recent)."""
    try:
        with open(os.path.join(folder, f"{key}.png"), "rb") as png:
            return png.read()
    except FileNotFoundError:
        pass
    failed = os.path.join(folder, f"{key}.failed")
    try:
        if time.time() - os.path.getmtime(failed) < FAILURE_SECONDS:
            with open(failed, encoding="utf-8") as reason:
                return Unrenderable(reason.read())
    except FileNotFoundError:
        pass
    return None


def _store(folder: str, key: str, outcome: bytes | Unrenderable) -> None:
    """Write the outcome for the app's other processes (atomically), keeping the newest files only.
    Best effort: a full or read-only disk costs the other processes a render, never this answer."""
    name = f"{key}.failed" if isinstance(outcome, Unrenderable) else f"{key}.png"
    data = outcome.reason.encode() if isinstance(outcome, Unrenderable) else outcome
    try:
        handle, temporary = tempfile.mkstemp(dir=folder, suffix=".part")
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, os.path.join(folder, name))
    except OSError as exc:
        log.warning("PNG outcome not stored in %s: %s", folder, exc.strerror)
        return
    for suffix, keep in ((".png", DISK_CACHE_SIZE), (".failed", DISK_CACHE_SIZE * 4)):
        entries = []
        for entry in os.scandir(folder):
            if entry.name.endswith(suffix):
                with contextlib.suppress(OSError):  # another process may have pruned it meanwhile
                    entries.append((entry.stat().st_mtime, entry.path))
        entries.sort()
        for _, path in entries[: max(0, len(entries) - keep)]:
            with contextlib.suppress(OSError):
                os.unlink(path)


def _render(svg: str) -> bytes | Unrenderable:
    """Run the child on `svg`: its PNG, or why there is none. The child gets no secrets: its
    environment is PATH and a locale only."""
    command = [sys.executable, "-E", "-s", "-m", "maestro_web.pictures", str(CPU_SECONDS)]
    environment = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "RUST_BACKTRACE": "0"}
    try:
        child = subprocess.run(
            command,
            input=svg.encode("utf-8", "surrogatepass"),
            capture_output=True,
            timeout=WALL_SECONDS,
            cwd=ROOT,
            env=environment,
            check=False,
        )
    except subprocess.TimeoutExpired:  # run() has killed and reaped it
        return Unrenderable(f"it took longer than {WALL_SECONDS} s to draw")
    if child.returncode == 0 and child.stdout.startswith(b"\x89PNG"):
        return child.stdout
    if child.returncode in _REASONS:
        return Unrenderable(_REASONS[child.returncode])
    if child.returncode in (-signal.SIGXCPU, -signal.SIGKILL):
        return Unrenderable(f"it needs more than {CPU_SECONDS} s of CPU to draw")
    if child.returncode == -signal.SIGABRT:  # Rust aborts when an allocation fails under RLIMIT_AS
        return Unrenderable(_REASONS[_NO_MEMORY])
    return Unrenderable(f"the renderer stopped (status {child.returncode})")


# --- the child ---------------------------------------------------------------------------------


def _limit_self(cpu_seconds: int) -> None:
    """CPU time (SIGXCPU at the soft limit, SIGKILL one second later), address space, no core file."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _child() -> int:
    """Read the SVG on stdin, write its PNG on stdout; the exit status says why not (_REASONS).
    The parent passes its CPU_SECONDS as the one argument."""
    _limit_self(int(sys.argv[1]) if len(sys.argv) > 1 else CPU_SECONDS)
    svg = sys.stdin.buffer.read().decode("utf-8", "surrogatepass")
    try:
        width, height = png_pixels(svg)
    except Unrenderable:
        return _NO_SIZE
    try:
        import resvg_py

        png = bytes(resvg_py.svg_to_bytes(svg_string=svg, width=width, height=height, background="#ffffff"))
    except MemoryError:
        return _NO_MEMORY
    except BaseException:  # a Rust panic is a BaseException: it ends only this child
        return _FAILED
    sys.stdout.buffer.write(png)
    return 0


if __name__ == "__main__":
    sys.exit(_child())
