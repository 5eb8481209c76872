#!/usr/bin/env python3
"""Regenerates the generated part of the seed corpus (tests/fuzz/corpus/):
small valid IDX, CIFAR and PNG inputs in each harness's input format, plus a
few malformed ones. The config seeds are written by hand, the valid
checkpoint by the harness itself (FUZZ_WRITE_SEED, see docs/fuzzing.md);
the malformed checkpoints are derived from it here. Deterministic."""
import gzip
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def pixels(n):
    return bytes((i * 37 + 11) & 255 for i in range(n))


# ---- IDX: flags byte, u16le images length, images, labels ----------------

def idx_images(n, h, w):
    return struct.pack(">BBBBIII", 0, 0, 8, 3, n, h, w) + pixels(n * h * w)


def idx_labels(n, labels=None):
    return struct.pack(">BBBBI", 0, 0, 8, 1, n) + bytes(labels or [i % 10 for i in range(n)])


def idx_input(flags, images, labels):
    return bytes([flags]) + struct.pack("<H", len(images)) + images + labels


put("idx", "valid-plain", idx_input(0x0, idx_images(3, 4, 4), idx_labels(3)))
put("idx", "valid-gz-both", idx_input(0xA, idx_images(2, 5, 3), idx_labels(2)))
put("idx", "valid-gz-plain-name", idx_input(0xF, idx_images(4, 2, 2), idx_labels(4)))
gz_images = gzip.compress(idx_images(2, 3, 3), mtime=0)
gz_labels = gzip.compress(idx_labels(2), mtime=0)
put("idx", "valid-raw-gzip", idx_input(0x5, gz_images, gz_labels))
put("idx", "truncated-gzip", idx_input(0x5, gz_images[:-6], gz_labels))
put("idx", "trailing-data", idx_input(0x0, idx_images(2, 2, 2) + b"\x01", idx_labels(2)))
put("idx", "count-mismatch", idx_input(0x0, idx_images(3, 2, 2), idx_labels(2)))
put("idx", "label-10", idx_input(0x0, idx_images(2, 2, 2), idx_labels(2, [3, 10])))
put("idx", "huge-claim", idx_input(0x0, struct.pack(">BBBBIII", 0, 0, 8, 3, 60000, 4096, 4096),
                                   idx_labels(60000)[:8]))

# ---- CIFAR: mode byte (bit 0 cifar100, bit 1 train), for CIFAR-10 train
# four size bytes of data_batch_1..4, then the data -----------------------

def cifar_records(n, cifar100, bad_label=None):
    out = b""
    for s in range(n):
        fine = (s * 7 + 3) % (100 if cifar100 else 10)
        if bad_label is not None and s == n - 1:
            fine = bad_label
        lab = bytes([fine // 5, fine]) if cifar100 else bytes([fine])
        out += lab + pixels(3072)[s:] + pixels(s)
    return out


def size_byte(records, delta=0):
    return (records << 4) | (delta + 8)


put("cifar", "c10-test-2", bytes([0]) + cifar_records(2, False))
put("cifar", "c100-test-2", bytes([1]) + cifar_records(2, True))
put("cifar", "c100-train-1", bytes([3]) + cifar_records(1, True))
put("cifar", "c10-train-5x1", bytes([2, size_byte(1), size_byte(1), size_byte(1), size_byte(1)])
    + cifar_records(5, False))
put("cifar", "c10-train-short-file", bytes([2, size_byte(1, -1), size_byte(1), size_byte(0), size_byte(1)])
    + cifar_records(4, False))
put("cifar", "c10-label-10", bytes([0]) + cifar_records(1, False, bad_label=10))
put("cifar", "c100-coarse-20", bytes([1]) + bytes([20, 3]) + pixels(3072))
put("cifar", "c10-truncated", bytes([0]) + cifar_records(1, False)[:-1])

# ---- PNG: flags byte (bit 0 a valid second class, bit 1 the test split
# too, bit 2 keep the chunk CRCs as they are), then the PNG file ----------

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(w, h, color_type, bit_depth=8, plte=None, trns=None, raw=None, cut=0):
    chans = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color_type]
    row = (w * chans * bit_depth + 7) // 8
    if raw is None:
        raw = b"".join(b"\x00" + pixels(row)[y:] + pixels(y) for y in range(h))
        raw = b"".join(raw[y * (row + 1):(y + 1) * (row + 1)] for y in range(h))
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0))
    if plte:
        out += chunk(b"PLTE", plte)
    if trns:
        out += chunk(b"tRNS", trns)
    idat = zlib.compress(raw, 9)
    out += chunk(b"IDAT", idat[:len(idat) - cut]) + chunk(b"IEND", b"")
    return out


put("png", "rgb-4x4", bytes([0]) + png(4, 4, 2))
put("png", "rgb-4x4-pair-2classes", bytes([3]) + png(4, 4, 2))
put("png", "gray-4x4-2classes", bytes([1]) + png(4, 4, 0))
put("png", "rgba-3x2", bytes([0]) + png(3, 2, 6))
put("png", "palette-2x2", bytes([2]) + png(2, 2, 3, plte=bytes(range(12)), trns=b"\x80"))
put("png", "gray16-2x2", bytes([0]) + png(2, 2, 0, bit_depth=16))
put("png", "gray1bit-9x2", bytes([0]) + png(9, 2, 0, bit_depth=1))
put("png", "truncated-idat", bytes([0]) + png(4, 4, 2, cut=5))
bad_crc = bytearray(png(4, 4, 2))
bad_crc[29] ^= 0xff  # the IHDR CRC
put("png", "bad-ihdr-crc-raw", bytes([4]) + bytes(bad_crc))
put("png", "not-png", bytes([0]) + b"GIF89a\x01\x00\x01\x00")
put("png", "huge-dims", bytes([0]) + b"\x89PNG\r\n\x1a\n"
    + chunk(b"IHDR", struct.pack(">IIBBBBB", 8192, 8192, 8, 0, 0, 0, 0))
    + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))

# ---- checkpoint: variants of the real one --------------------------------

valid_path = os.path.join(HERE, "corpus", "checkpoint", "valid.bin")
if os.path.exists(valid_path):
    with open(valid_path, "rb") as f:
        v = f.read()

    def with_crc(body):
        return body + struct.pack("<I", zlib.crc32(body))

    put("checkpoint", "header-only.bin", v[:104])
    put("checkpoint", "truncated.bin", v[:104 + 400])
    put("checkpoint", "bad-magic.bin", b"BNSHCKPX" + v[8:200])
    put("checkpoint", "version-2.bin", v[:8] + struct.pack("<I", 2) + v[12:200])
    put("checkpoint", "wrong-n-stats.bin", v[:40] + struct.pack("<Q", 7) + v[48:300])
    put("checkpoint", "trailing-byte.bin", v + b"X")
    # CRC-valid, but no run writes these:
    put("checkpoint", "negative-csv-length.bin",
        with_crc(v[:88] + struct.pack("<q", -5) + v[96:-4]))
    put("checkpoint", "nan-weight.bin",
        with_crc(v[:104] + struct.pack("<f", float("nan")) + v[108:-4]))
