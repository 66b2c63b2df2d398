"""Keys written by `tomoe ota repo init` load in python-cryptography (PKCS#8 v1 PEM),
and the public keys in its root.json verify the signatures it wrote.
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from tomoe_process import tomoe_bin


def test_repo_init_keys_load_in_python_cryptography(tmp_path: Path):
    repo = tmp_path / "image"
    subprocess.run([str(tomoe_bin()), "ota", "repo", "init", str(repo)], check=True,
                   capture_output=True, timeout=60)
    keys = sorted((repo / "keys").glob("*.pem"))
    assert {key.stem for key in keys} >= {"root", "targets", "snapshot", "timestamp"}, keys
    root = json.loads((repo / "root.json").read_text())
    published = {
        bytes.fromhex(key["keyval"]["public"]) for key in root["signed"]["keys"].values()
    }
    for path in keys:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey), path
        public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        assert public in published, f"{path.name}'s public key is not in root.json"
    # The root key's signature over root.json verifies with cryptography too: the
    # signed bytes are the canonical JSON of "signed" (OLPC: sorted keys, no spaces).
    signed = json.dumps(root["signed"], sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    for signature in root["signatures"]:
        key = root["signed"]["keys"][signature["keyid"]]
        raw = signature["sig"]
        sig = bytes.fromhex(raw) if len(raw) == 128 else base64.b64decode(raw)
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["keyval"]["public"])).verify(sig, signed)
