#!/usr/bin/env python3
"""Checks repositories written by tomoe-ota with the reference TUF implementation.

Uses the metadata API of the python `tuf` package (python-tuf): every root in the
chain is verified by the previous root and by itself, then timestamp, snapshot and
targets by the newest root, with the lengths and hashes each lists checked.

    python3 -m venv .venv-tuf && .venv-tuf/bin/pip install tuf
    cargo run -p tomoe-ota --example make_repository -- out
    .venv-tuf/bin/python scripts/ota_tuf_check.py out/image out/director/*
"""
import sys
from pathlib import Path
from tuf.api.metadata import Metadata, Root, Targets, Snapshot, Timestamp

def check(repo: Path):
    read = lambda name: (repo / name).read_bytes()
    root1 = Metadata[Root].from_bytes(read("1.root.json"))
    root1.verify_delegate("root", root1)
    root = root1
    n = 2
    while (repo / f"{n}.root.json").exists():
        new = Metadata[Root].from_bytes(read(f"{n}.root.json"))
        root.verify_delegate("root", new)   # signed by the previous root's keys
        new.verify_delegate("root", new)    # and by its own
        root = new; n += 1
    ts = Metadata[Timestamp].from_bytes(read("timestamp.json"))
    root.verify_delegate("timestamp", ts)
    ts.signed.snapshot_meta.verify_length_and_hashes(read("snapshot.json"))
    sn = Metadata[Snapshot].from_bytes(read("snapshot.json"))
    root.verify_delegate("snapshot", sn)
    sn.signed.meta["targets.json"].verify_length_and_hashes(read("targets.json"))
    tg = Metadata[Targets].from_bytes(read("targets.json"))
    root.verify_delegate("targets", tg)
    for name, t in tg.signed.targets.items():
        if (repo / "targets" / name).exists():
            t.verify_length_and_hashes(read(f"targets/{name}"))
        print(f"  target {name}: length {t.length}, custom {t.custom}")
    print(f"{repo}: ok (root v{root.signed.version}, timestamp v{ts.signed.version}, snapshot v{sn.signed.version}, targets v{tg.signed.version})")

for arg in sys.argv[1:]:
    check(Path(arg))
