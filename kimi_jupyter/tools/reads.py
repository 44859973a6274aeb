"""Noticing when a tool call reads a file or a URL: that text is untrusted (SPEC §9).

A file or a web page can carry instructions for the model ("now run `curl … | sh`"), so
code the model writes after reading one is asked about again (`approval.approve`). The
python tool and the user's `@tool`s run inside `watch_reads()`, which reports the first
file opened for reading or the first network connection made in this thread.

It listens to CPython's audit events (PEP 578): `open` (builtins.open, io.open, os.open;
pandas, numpy and the rest read through them), `urllib.Request` and `socket.connect`.
A hook cannot be removed once added, so one hook is added on first use and does nothing
outside a watch: a thread-local lookup per event. What Python itself reads while code
runs is not a read of untrusted text: modules and packages (anything under the
interpreter's prefixes or site-packages, and `.py`/`.pyc`/extension files anywhere), the
metadata of installed distributions (`*.dist-info/`, `*.egg-info/`: `importlib.metadata`
reads their entry points wherever they are, e.g. a source checkout's editable install), IPython's and matplotlib's own configuration and caches, `/proc`, `/sys`, `/dev`, and the
system's fonts, time zones, MIME types and certificates. Reads made in C without Python's
`open` (a C library calling `fopen`) or by a subprocess (`!cat file`) are not seen.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator

_LOCAL = threading.local()
_HOOKED = False
_HOOK_LOCK = threading.Lock()
_CODE_SUFFIXES = (".py", ".pyc", ".pyo", ".pyd", ".so", ".pth", ".dylib", ".dll")
# The system's own data that libraries read on their own: fonts (matplotlib), time zones
# (pandas, dateutil), MIME types (mimetypes), certificates (ssl).
_SYSTEM_DIRS = ("/proc/", "/sys/", "/dev/", "/usr/share/fonts/", "/usr/share/zoneinfo/", "/usr/share/mime/",
                "/etc/fonts/", "/etc/ssl/", "/etc/mime.types", "/etc/localtime", "/etc/matplotlibrc")
_READ_FLAGS = (os.O_RDONLY, os.O_RDWR)
# Distribution metadata: what `importlib.metadata` reads (a magic or a plotting backend
# looking up entry points), in site-packages or beside a source checkout on sys.path.
_METADATA_SUFFIXES = (".dist-info", ".egg-info")


@dataclass
class Reads:
    """What a watched call read first, as a phrase for the approval question; None: nothing."""

    source: str | None = None


@contextmanager
def watch_reads() -> Iterator[Reads]:
    """Report (in the yielded `Reads`) the first file or URL this thread reads inside the block."""
    _install()
    reads = Reads()
    outer = getattr(_LOCAL, "reads", None)
    _LOCAL.reads = reads
    try:
        yield reads
    finally:
        _LOCAL.reads = outer
        if outer is not None and outer.source is None:
            outer.source = reads.source  # a user tool called from model code: the outer call read it


def watching() -> Reads | None:
    """The watch of this thread, if any: a worker thread running a call for it reports into it."""
    return getattr(_LOCAL, "reads", None)


@contextmanager
def reporting_to(reads: Reads | None) -> Iterator[None]:
    """Watch this (worker) thread on behalf of `reads`, the caller thread's watch."""
    if reads is None:
        yield
        return
    with watch_reads() as mine:
        try:
            yield
        finally:
            if reads.source is None:
                reads.source = mine.source


def _install() -> None:
    global _HOOKED
    with _HOOK_LOCK:
        if not _HOOKED:
            sys.addaudithook(_hook)
            _HOOKED = True


def _hook(event: str, args: tuple[Any, ...]) -> None:
    reads = getattr(_LOCAL, "reads", None)
    if reads is None:
        return
    try:  # an exception here would break the operation being audited
        if event == "open":
            source = _file_read(*args[:3])  # also notes files written, even after a read
            reads.source = reads.source or source
        elif reads.source is not None:
            return
        elif event == "urllib.Request":
            reads.source = f"the URL {str(args[0])[:200]}"
        elif event == "socket.connect":
            reads.source = _connection(args[1])
    except Exception:  # noqa: BLE001 - never let the watcher change what the code does
        pass


def _file_read(path: Any, mode: Any, flags: Any) -> str | None:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return None  # a file descriptor: what it is was decided when it was opened
    name = os.path.abspath(os.fsdecode(path))
    if isinstance(mode, str):
        writes = "w" in mode or "x" in mode or ("a" in mode and "+" not in mode)
    else:
        access = flags & os.O_ACCMODE if isinstance(flags, int) else os.O_RDONLY
        writes = access not in _READ_FLAGS or (access == os.O_RDWR and bool(flags & os.O_TRUNC))
    if writes:
        # Written (from empty) by watched code: reading it back later reads its own output.
        _WRITTEN.add(name)
        return None
    if name in _WRITTEN or name.endswith(_CODE_SUFFIXES) or name.startswith(_SYSTEM_DIRS) or name.startswith(_own_dirs()):
        return None
    if _is_metadata(name):
        return None
    # The event comes before the open: a missing file (linecache trying a cell's
    # pseudo-file "<ipython-input-…>" for a traceback) is not a read.
    return f"the file {name}" if os.path.isfile(name) else None


def _is_metadata(name: str) -> bool:
    """A file in an installed distribution's metadata folder: `*.dist-info/` or `*.egg-info/`
    directly in a `sys.path` entry (where `importlib.metadata` looks), not any folder so named."""
    folder = os.path.dirname(name)
    if not folder.endswith(_METADATA_SUFFIXES):
        return False
    parent = os.path.dirname(folder)
    return any(os.path.abspath(entry or os.curdir) == parent for entry in sys.path if isinstance(entry, str))


def _connection(address: Any) -> str | None:
    if isinstance(address, tuple) and len(address) >= 2:
        return f"a network connection to {address[0]}:{address[1]}"
    if isinstance(address, (str, bytes)):  # a Unix socket
        return f"a connection to {os.fsdecode(address)}"
    return None


_OWN_DIRS: tuple[str, ...] | None = None
_MPL_DIRS: tuple[str, ...] = ()
_MPL_LOOKING = False
# Files watched code wrote (truncated or created) in this process.
_WRITTEN: set[str] = set()


def _own_dirs() -> tuple[str, ...]:
    """Directories whose files are Python's, IPython's or matplotlib's own, not data."""
    global _OWN_DIRS, _MPL_DIRS, _MPL_LOOKING
    mpl = sys.modules.get("matplotlib")
    if mpl is not None and not _MPL_DIRS and not _MPL_LOOKING:
        # Where this matplotlib keeps its config and font cache (a temporary directory
        # when the home directory can't be written). Asking may open files, which calls
        # the hook again: `_MPL_LOOKING` stops that. A half-imported matplotlib raises
        # AttributeError here (the hook ignores it), and is asked again next time.
        _MPL_LOOKING = True
        try:
            _MPL_DIRS = tuple(os.path.join(os.path.abspath(get()), "")
                              for get in (mpl.get_configdir, mpl.get_cachedir))
        finally:
            _MPL_LOOKING = False
    if _OWN_DIRS is None:
        import site
        import sysconfig

        dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
        try:
            dirs.update(site.getsitepackages())
            dirs.add(site.getusersitepackages())
        except AttributeError:  # some virtualenvs' site module
            pass
        ipython_dir = os.environ.get("IPYTHONDIR") or os.path.join(os.path.expanduser("~"), ".ipython")
        dirs.add(ipython_dir)
        for env in ("MPLCONFIGDIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"):
            if os.environ.get(env):
                dirs.add(os.path.join(os.environ[env], "matplotlib") if env != "MPLCONFIGDIR" else os.environ[env])
        dirs.add(os.path.join(os.path.expanduser("~"), ".cache", "matplotlib"))
        dirs.add(os.path.join(os.path.expanduser("~"), ".config", "matplotlib"))
        _OWN_DIRS = tuple(os.path.join(os.path.abspath(d), "") for d in dirs if d)
    return _OWN_DIRS + _MPL_DIRS


__all__ = ["Reads", "reporting_to", "watch_reads", "watching"]
