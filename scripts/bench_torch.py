#!/usr/bin/python3
"""PyTorch reference for DistTrain's benchmarks (DESIGN.md section 4).

Trains on Fashion-MNIST read straight from the idx .gz files (gzip + numpy, no torchvision):
  mlp: 784-256-128-10 ReLU, batch 128, Adam 1e-3, --epochs epochs (default 3)
  cnn: conv(1->32,3x3,pad 1)-ReLU-maxpool2 -> conv(32->64,3x3,pad 1)-ReLU-maxpool2 -> dropout 0.25
       -> flatten -> dense 3136->128-ReLU -> dense 128->10, 1 epoch unless --epochs is given
Inputs are x/255, training order reshuffled every epoch. samples_per_second counts training steps
only (forward, backward, optimizer step), not evaluation. Prints one JSON line per run.

Run with Debian's interpreter so Debian's python3-torch (linked to the system OpenBLAS) is used:
  /usr/bin/python3 scripts/bench_torch.py --workload mlp --threads 1
  /usr/bin/python3 scripts/bench_torch.py --limit 2000 --epochs 1     # quick check
  /usr/bin/python3 scripts/bench_torch.py --init init-mlp.safetensors # start from DistTrain's initial parameters
    (written by `DistTrain.Benchmarks train --workload mlp --save-init init-mlp.safetensors`)
Set OPENBLAS_NUM_THREADS / OMP_NUM_THREADS in the environment as well: torch.set_num_threads does not
change OpenBLAS's own pool, and the two fighting over 2 cores costs several times the throughput.
"""
import argparse
import gzip
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DEFAULT_DATA = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    """Reads an idx file (optionally gzipped) into a numpy array of its declared shape."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4:
        raise ValueError(f"{path}: {len(data)} bytes is too short for an idx header")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path}: expected idx magic 0x0000 and unsigned-byte type 0x08, "
                         f"found 0x{zero:04x} and 0x{dtype_code:02x}")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = int(np.prod(dims))
    if body.size != expected:
        raise ValueError(f"{path}: header says {dims} = {expected} values but the file holds {body.size}")
    return body.reshape(dims)


def load(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{split}: {images.shape[0]} images but {labels.shape[0]} labels")
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)  # (N,1,28,28)
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


def mlp():
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256), nn.ReLU(),
        nn.Linear(256, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),   # (N,1,28,28) -> (N,32,14,14)
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # -> (N,64,7,7)
        nn.Dropout(0.25),
        nn.Flatten(),                                                 # -> (N,3136)
        nn.Linear(3136, 128), nn.ReLU(),
        nn.Linear(128, 10),
    )


def load_init(model, path):
    """Loads initial parameters from a safetensors file with nn.Sequential names (DistTrain's `train --save-init`)."""
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "interchange"))
    from check_safetensors_torch import read_safetensors
    tensors, _ = read_safetensors(path)
    # strict: every parameter of the model must be in the file with its shape, and nothing else.
    model.load_state_dict({k: torch.from_numpy(v) for k, v in tensors.items()}, strict=True)


def evaluate(model, x, y):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], 1000):
            correct += (model(x[i:i + 1000]).argmax(1) == y[i:i + 1000]).sum().item()
    model.train()
    return correct / x.shape[0]


def peak_rss_mib():
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="default 3 for mlp, 1 for cnn")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default=DEFAULT_DATA, help=f"directory with the idx .gz files (default {DEFAULT_DATA})")
    p.add_argument("--init", default=None, help="safetensors file of initial parameters (PyTorch names, e.g. DistTrain's "
                                                "`train --save-init`); default: PyTorch's own initialisation")
    args = p.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (3 if args.workload == "mlp" else 1)
    if args.threads < 1 or epochs < 1 or args.batch < 1:
        p.error("--threads, --epochs and --batch must be >= 1")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    x_train, y_train = load(args.data, "train")
    x_test, y_test = load(args.data, "test")
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    n = x_train.shape[0]

    model = mlp() if args.workload == "mlp" else cnn()
    if args.init is not None:
        load_init(model, args.init)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)

    train_seconds = 0.0
    trained = 0
    accuracy = []
    per_epoch = []
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        start = time.perf_counter()
        for i in range(0, n, args.batch):
            idx = order[i:i + args.batch]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            trained += idx.shape[0]
        seconds = time.perf_counter() - start
        train_seconds += seconds
        per_epoch.append(round(n / seconds, 1))
        accuracy.append(round(evaluate(model, x_test, y_test), 4))

    print(json.dumps({
        "system": "pytorch",
        "version": torch.__version__,
        "workload": args.workload,
        "threads": args.threads,
        "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "batch": args.batch,
        "epochs": epochs,
        "train_samples": n,
        "samples_per_second": round(trained / train_seconds, 1),
        "samples_per_second_epochs": per_epoch,
        "test_accuracy": accuracy,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "init": os.path.basename(args.init) if args.init else "pytorch",
    }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
