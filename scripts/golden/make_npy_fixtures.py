#!/usr/bin/python3
"""Writes the NumPy .npy fixtures that tests/Facade.Tests/NpyTests.cs reads back.

Run with Debian's NumPy (1.24): /usr/bin/python3 scripts/golden/make_npy_fixtures.py
Every array is a closed formula so that the C# tests can recompute the expected values.
"""
import io
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Facade.Tests", "fixtures", "npy")


def save(name, array, version=None):
    path = os.path.join(OUT, name)
    with open(path, "wb") as f:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)


def main():
    os.makedirs(OUT, exist_ok=True)
    # Supported arrays.
    save("f8_2x3x4.npy", np.arange(24, dtype="<f8").reshape(2, 3, 4) * 0.5 - 3.0)
    save("f4_2x3.npy", (np.arange(6, dtype="<f4") / np.float32(7)).reshape(2, 3))
    save("f8_scalar.npy", np.array(2.5, dtype="<f8"))
    save("f4_vector.npy", np.array([1.5, -2.25, 3.0, 0.0, 1e-3], dtype="<f4"))
    save("f8_empty.npy", np.zeros((0, 3), dtype="<f8"))
    save("i8_labels.npy", np.array([0, 3, -7, 2**53], dtype="<i8"))
    save("i4_2x2.npy", np.array([[1, -2], [3, 4]], dtype="<i4"))
    save("b1_mask.npy", np.array([[True, False, True], [False, False, True]]))
    save("u1_mask.npy", np.array([0, 1, 255], dtype="u1"))
    save("f8_v2.npy", np.arange(4, dtype="<f8"), version=(2, 0))
    save("f8_v3.npy", np.arange(3, dtype="<f8"), version=(3, 0))
    # Files the reader must reject with a clear message.
    save("f8_fortran.npy", np.asfortranarray(np.arange(6, dtype="<f8").reshape(2, 3)))
    save("f8_bigendian.npy", np.arange(3, dtype=">f8"))
    save("c16_complex.npy", np.arange(2, dtype="<c16"))
    save("structured.npy", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))
    save("i8_too_large.npy", np.array([2**53 + 1], dtype="<i8"))
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.arange(10, dtype="<f8"))
    with open(os.path.join(OUT, "f8_truncated.npy"), "wb") as f:
        f.write(buffer.getvalue()[:-8])
    with open(os.path.join(OUT, "not_npy.npy"), "wb") as f:
        f.write(b"hello, this is not a NumPy file\n")


if __name__ == "__main__":
    main()
