#!/usr/bin/env python3
"""Cut the bundled Fashion-MNIST subset from Debian's dataset-fashion-mnist package.

    apt-get install dataset-fashion-mnist && python3 datasets/make_fashion_subset.py

Takes the first PER_CLASS images of each class, in file order, from the training and test
sets, and writes them as idx.gz files in datasets/fashion-mnist-subset/. Deterministic: the
same package gives byte-identical files (gzip mtime fixed to 0). Fashion-MNIST is MIT-licensed
(Zalando Research)."""
import gzip, os, struct, sys

SRC = "/usr/share/datasets/fashion-mnist"
DST = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fashion-mnist-subset")
SPLITS = {"train": ("train", 600), "t10k": ("t10k", 200)}


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
    return dims, data[4 + 4 * ndim :]


def write_idx(path, dims, payload):
    header = struct.pack(">I", 0x0800 | len(dims)) + struct.pack(">" + "I" * len(dims), *dims)
    with open(path, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="") as f:
            f.write(header + payload)


def main():
    if not os.path.isdir(SRC):
        sys.exit(f"{SRC} not found: apt-get install dataset-fashion-mnist")
    os.makedirs(DST, exist_ok=True)
    for prefix, (name, per_class) in SPLITS.items():
        (n, rows, cols), images = read_idx(f"{SRC}/{prefix}-images-idx3-ubyte.gz")
        (nl,), labels = read_idx(f"{SRC}/{prefix}-labels-idx1-ubyte.gz")
        assert n == nl
        size = rows * cols
        taken, counts = [], [0] * 10
        for i in range(n):
            c = labels[i]
            if counts[c] < per_class:
                counts[c] += 1
                taken.append(i)
        assert all(c == per_class for c in counts), counts
        write_idx(f"{DST}/{name}-images-idx3-ubyte.gz", (len(taken), rows, cols),
                  b"".join(images[i * size : (i + 1) * size] for i in taken))
        write_idx(f"{DST}/{name}-labels-idx1-ubyte.gz", (len(taken),), bytes(labels[i] for i in taken))
        print(f"{name}: {len(taken)} images, {per_class} per class")


if __name__ == "__main__":
    main()
