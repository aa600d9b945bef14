#!/usr/bin/env python3
"""Recompute an on-sale draw: the order of the pre-queue from the published
seed and the pre-queued booking ids, exactly as Boxoffice made it (README,
"The on-sale"), independently of its code.

    python3 scripts/draw.py <seed hex> <booking id>... > order.txt

Needs the `cryptography` package (python3 -m pip install cryptography) for
ChaCha20. Prints the booking ids in line order, first to last.
"""
import sys
import uuid

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms


def keystream_words(seed: bytes):
    """64-bit little-endian words of ChaCha20 (20 rounds) keyed with the seed,
    counter and nonce starting at zero: the stream of Rust's ChaCha20Rng."""
    cipher = Cipher(algorithms.ChaCha20(seed, b"\0" * 16), mode=None).encryptor()
    while True:
        block = cipher.update(b"\0" * 4096)
        for i in range(0, len(block), 8):
            yield int.from_bytes(block[i:i + 8], "little")


def order(seed: bytes, ids):
    ids = sorted(ids, key=lambda u: u.bytes)
    words = keystream_words(seed)
    for i in range(len(ids) - 1, 0, -1):
        n = i + 1
        zone = (1 << 64) // n * n
        while True:
            x = next(words)
            if x < zone:
                break
        j = x % n
        ids[i], ids[j] = ids[j], ids[i]
    return ids


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    seed = bytes.fromhex(sys.argv[1])
    if len(seed) != 32:
        sys.exit("the seed is 32 bytes (64 hex digits)")
    for booking in order(seed, [uuid.UUID(a) for a in sys.argv[2:]]):
        print(booking)
