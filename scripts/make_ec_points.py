#!/usr/bin/env python3
"""Writes pipeline/synth/ec_points.bin: public points of freshly generated
EC keys that `pipeline synth` gives its ECDSA certificates (a point must lie
on its curve for parsers to accept it; the private keys are discarded).

Layout: 256 uncompressed P-256 points (65 bytes each), then 64 uncompressed
P-384 points (97 bytes each)."""
import pathlib
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

out = pathlib.Path(__file__).resolve().parent.parent / "pipeline" / "synth" / "ec_points.bin"
data = bytearray()
for curve, count in ((ec.SECP256R1(), 256), (ec.SECP384R1(), 64)):
    for _ in range(count):
        key = ec.generate_private_key(curve).public_key()
        data += key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
out.write_bytes(bytes(data))
print(f"{out}: {len(data)} bytes")
