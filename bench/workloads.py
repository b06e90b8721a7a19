"""The data every system is given, generated once per run (stdlib only).

(a) ``small/``: N files of 4 KiB in 100 folders (random bytes);
(b) ``big/big.bin``: one file of random bytes;
(c) ``versions/vNNN/model.bin``: a model file in many versions, each made
    from the previous one by rewriting 1 MiB at a random offset and
    inserting 4 KiB at another. The insertion shifts every later byte, which
    defeats fixed-size chunking; a seeded generator makes it reproducible.

This module is imported by the benchmark's driver and by its steps, in the
main interpreter and in the peers' virtual environment alike.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass

KIB = 1 << 10
MIB = 1 << 20


@dataclass(frozen=True)
class Sizes:
    """How big each workload is; ``full()`` is the issue's, ``quick()`` a smoke run."""

    small_files: int
    small_folders: int
    small_size: int
    big_size: int
    versions: int
    version_size: int
    rewrite: int
    insert: int
    links: int
    link_sources: int
    repeat: int        # localreg and the floor, paired run by run
    peer_repeat: int   # MLflow, W&B, DVC

    @classmethod
    def full(cls) -> "Sizes":
        return cls(small_files=10_000, small_folders=100, small_size=4 * KIB, big_size=1024 * MIB,
                   versions=100, version_size=20 * MIB, rewrite=1 * MIB, insert=4 * KIB,
                   links=100_000, link_sources=100, repeat=5, peer_repeat=3)

    @classmethod
    def quick(cls) -> "Sizes":
        return cls(small_files=1_000, small_folders=10, small_size=4 * KIB, big_size=64 * MIB,
                   versions=10, version_size=4 * MIB, rewrite=256 * KIB, insert=4 * KIB,
                   links=1_000, link_sources=10, repeat=1, peer_repeat=1)

    def to_dict(self) -> dict:
        return asdict(self)


def make_small(root: str, sizes: Sizes) -> None:
    per = -(-sizes.small_files // sizes.small_folders)
    made = 0
    for d in range(sizes.small_folders):
        sub = os.path.join(root, f"d{d:03d}")
        os.makedirs(sub)
        for i in range(per):
            if made == sizes.small_files:
                return
            with open(os.path.join(sub, f"f{i:05d}.bin"), "wb") as f:
                f.write(os.urandom(sizes.small_size))
            made += 1


def make_big(path: str, size: int) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MIB)
            f.write(os.urandom(n))
            left -= n


def version_path(root: str, index: int) -> str:
    return os.path.join(root, f"v{index:03d}", "model.bin")


def make_versions(root: str, sizes: Sizes, seed: int = 6) -> int:
    """Write every version under ``root``; returns their total (logical) size."""
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(sizes.version_size))
    total = 0
    for k in range(sizes.versions):
        if k:
            at = rng.randrange(0, len(data) - sizes.rewrite)
            data[at: at + sizes.rewrite] = rng.randbytes(sizes.rewrite)
            at = rng.randrange(0, len(data))
            data[at:at] = rng.randbytes(sizes.insert)
        path = version_path(root, k)
        os.makedirs(os.path.dirname(path))
        with open(path, "wb") as f:
            f.write(data)
        total += len(data)
    return total


def tree_bytes(path: str) -> int:
    """Apparent size of the files under ``path``, each inode counted once (hard links share bytes)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    if os.path.isfile(path):
        return os.stat(path).st_size
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            total += st.st_size
    return total
