#!/usr/bin/python3
"""Check a DistTrain safetensors export against PyTorch.

Builds the torch.nn.Sequential equivalent to a DistTrain model spec (layer i -> module i), loads the
weights with load_state_dict(strict=True), runs the given inputs in eval mode and compares the outputs
with DistTrain's (max abs diff <= --tolerance) and the argmax predictions.

The safetensors file is parsed here with json + numpy (Debian has no `safetensors` package).

usage: check_safetensors_torch.py WEIGHTS.safetensors --input X.npy|X.f32 --expected Y.npy|Y.f32
                                  [--spec SPEC.json] [--tolerance 1e-4]
  --spec      the model spec JSON (default: the "disttrain.model_spec" metadata of the file)
  --input     the inputs, (N, *input_shape) float32: a .npy file, or raw little-endian float32
  --expected  DistTrain's outputs for them, (N, K) float32: .npy or raw little-endian float32

Exit codes: 0 outputs agree, 1 they differ, 2 bad input, 3 PyTorch is not installed.
"""
import argparse
import json
import struct
import sys

import numpy as np

DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64, "I32": np.int32,
          "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """Returns ({name: ndarray}, metadata) after checking the header against the file."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: {len(data)} bytes; not a safetensors file")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError(f"{path}: header length {n} runs past the end of the file ({len(data)} bytes)")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = tuple(info["shape"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not 0 <= begin <= end <= len(body) or end - begin != count * np.dtype(dtype).itemsize:
            raise ValueError(f"{path}: tensor {name!r} has data_offsets [{begin}, {end}] that do not fit its shape {list(shape)} or the file")
        tensors[name] = np.frombuffer(body[begin:end], dtype=np.dtype(dtype).newbyteorder("<")).reshape(shape).copy()
    return tensors, metadata


def load_array(path, shape_tail):
    if path.endswith(".npy"):
        a = np.load(path).astype(np.float32)
    else:
        a = np.fromfile(path, dtype="<f4")
    return a.reshape((-1, *shape_tail))


def build_sequential(spec, nn):
    """The nn.Sequential whose module i is DistTrain layer i (shapes tracked to size Linear/Conv2d)."""
    shape = list(spec["input_shape"])
    modules = []
    for i, layer in enumerate(spec["layers"]):
        kind = layer["type"]
        if kind == "dense":
            if len(shape) != 1:
                raise ValueError(f"layer {i}: dense after shape {shape}; DistTrain needs a flatten first")
            modules.append(nn.Linear(shape[0], layer["units"]))
            shape = [layer["units"]]
        elif kind == "conv2d":
            c, h, w = shape
            k, s, p = layer["kernel_size"], layer.get("stride", 1), layer.get("padding", 0)
            modules.append(nn.Conv2d(c, layer["filters"], k, stride=s, padding=p))
            shape = [layer["filters"], (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1]
        elif kind == "maxpool2d":
            c, h, w = shape
            k = layer.get("pool_size", 2)
            s = layer.get("stride") or k
            modules.append(nn.MaxPool2d(k, stride=s))
            shape = [c, (h - k) // s + 1, (w - k) // s + 1]
        elif kind == "dropout":
            modules.append(nn.Dropout(layer["rate"]))
        elif kind == "spatial_dropout":
            modules.append(nn.Dropout2d(layer["rate"]))
        elif kind == "flatten":
            modules.append(nn.Flatten())
            shape = [int(np.prod(shape))]
        elif kind == "activation":
            act = layer["kind"]
            make = {"re_lu": nn.ReLU, "relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh,
                    "softmax": lambda: nn.Softmax(dim=-1)}.get(act)
            if make is None:
                raise ValueError(f"layer {i}: unknown activation {act!r}")
            modules.append(make())
        else:
            raise ValueError(f"layer {i}: unknown layer type {kind!r}")
    return nn.Sequential(*modules)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("weights")
    ap.add_argument("--spec")
    ap.add_argument("--input", required=True)
    ap.add_argument("--expected", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    args = ap.parse_args()
    try:
        import torch
        from torch import nn
    except ImportError as e:
        print(f"error: PyTorch is not available to {sys.executable} ({e}); install Debian's python3-torch: apt-get install python3-torch",
              file=sys.stderr)
        return 3
    try:
        tensors, metadata = read_safetensors(args.weights)
        if args.spec:
            with open(args.spec, encoding="utf-8") as f:
                spec = json.load(f)
        elif "disttrain.model_spec" in metadata:
            spec = json.loads(metadata["disttrain.model_spec"])
        else:
            raise ValueError(f"{args.weights}: no --spec given and no disttrain.model_spec in its metadata")
        model = build_sequential(spec, nn)
        state = {name: torch.from_numpy(t) for name, t in tensors.items()}
        model.load_state_dict(state, strict=True)
        model.eval()
        x = load_array(args.input, spec["input_shape"])
    except (ValueError, KeyError, OSError, RuntimeError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).numpy()
    expected = load_array(args.expected, y.shape[1:])
    if expected.shape != y.shape:
        print(f"error: {args.expected} holds {expected.shape} values; PyTorch produced {y.shape}", file=sys.stderr)
        return 2
    diff = float(np.max(np.abs(y - expected))) if y.size else 0.0
    agree = int(np.sum(np.argmax(y, axis=1) == np.argmax(expected, axis=1)))
    n = y.shape[0]
    ok = diff <= args.tolerance and agree == n
    print(json.dumps({"samples": n, "max_abs_diff": diff, "tolerance": args.tolerance, "argmax_agree": agree,
                      "torch": torch.__version__, "ok": ok}))
    if not ok:
        print(f"error: PyTorch and DistTrain differ: max |diff| {diff:.3e} (tolerance {args.tolerance}), "
              f"argmax agrees on {agree} of {n} samples", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
