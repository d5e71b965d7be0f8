#!/usr/bin/python3
"""PyTorch DistributedDataParallel reference for DistTrain's multi-process benchmark (DESIGN.md section 4).

Two processes (--processes) on 127.0.0.1 with the gloo backend train the same networks as
bench_torch.py on Fashion-MNIST:
  mlp (W2): 784-256-128-10 ReLU, Adam 1e-3, --epochs epochs (default 3)
  cnn (W3): the bench_torch.py CNN, 1 epoch unless --epochs is given
--batch is the GLOBAL batch (default 128): each process takes batch / processes samples per step from
its own shard, as torch.utils.data.DistributedSampler does: one permutation of the training set per
epoch (seeded with seed + epoch, the same on every process), process r takes positions r, r + P,
r + 2P, ... DDP averages the gradients over the processes (an all-reduce per bucket, overlapped with
the backward pass), so a step is the same Adam step on the mean gradient of the global batch.

samples_per_second = training samples of all processes / seconds spent in training steps (forward,
backward with its all-reduce, optimizer), summed over epochs; an epoch's seconds are the slowest
process's (every step synchronises them anyway). Both processes start each epoch at a barrier; the test
evaluation after each epoch (process 0, whole test set) is not timed. Prints one JSON line, like
bench_torch.py, with the peak RSS of every process.

This script is a launcher: it starts the processes as children (`--rank R` is the child mode), with
torch.set_num_threads(--threads) and OMP_NUM_THREADS / OPENBLAS_NUM_THREADS set in their environment
before torch loads. SIGTERM / SIGINT stop the children too.

  /usr/bin/python3 scripts/bench_ddp.py                              # W2, 2 processes, 1 thread each
  /usr/bin/python3 scripts/bench_ddp.py --limit 10000 --epochs 1     # quick check
  /usr/bin/python3 scripts/bench_ddp.py --workload cnn --limit 10000
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workload", choices=["mlp", "cnn"], default="mlp")
    p.add_argument("--processes", type=int, default=2, help="DDP processes (world size, default 2)")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads and OMP/OpenBLAS threads per process (default 1)")
    p.add_argument("--epochs", type=int, default=None, help="default 3 for mlp, 1 for cnn")
    p.add_argument("--batch", type=int, default=128, help="global batch, split evenly over the processes (default 128)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist", help="directory with the idx .gz files")
    p.add_argument("--port", type=int, default=0, help="rendezvous port on 127.0.0.1 (default: a free one)")
    p.add_argument("--init", default=None, help="safetensors file of initial parameters (bench_torch.py --init)")
    p.add_argument("--rank", type=int, default=None, help=argparse.SUPPRESS)  # child mode
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 3 if args.workload == "mlp" else 1
    if args.processes < 1 or args.threads < 1 or args.epochs < 1 or args.batch < 1:
        p.error("--processes, --threads, --epochs and --batch must be >= 1")
    if args.batch % args.processes != 0:
        p.error(f"--batch {args.batch} must divide evenly over {args.processes} processes")
    return args


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args, argv):
    port = args.port or free_port()
    env = dict(os.environ)
    env.update({
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(args.processes),
        "OMP_NUM_THREADS": str(args.threads),
        "OPENBLAS_NUM_THREADS": str(args.threads),
        "GLOO_SOCKET_IFNAME": "lo",  # loopback only, whatever the host's interfaces are
    })
    children = []

    def stop(*_):
        for c in children:
            if c.poll() is None:
                c.terminate()
        for c in children:
            try:
                c.wait(timeout=10)
            except subprocess.TimeoutExpired:
                c.kill()
        sys.exit(143)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for r in range(args.processes):
        children.append(subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), *argv, "--port", str(port), "--rank", str(r)],
            env=env, stdout=subprocess.PIPE if r == 0 else subprocess.DEVNULL))
    out = children[0].stdout.read().decode()
    codes = [children[0].wait()]
    for c in children[1:]:
        # A process whose peers are gone can spin in gloo instead of exiting: once process 0 has printed
        # its result, the others get 30 s.
        try:
            codes.append(c.wait(timeout=30 if codes[0] == 0 and out.strip() else None))
        except subprocess.TimeoutExpired:
            c.kill()
            codes.append(c.wait())
            print(f"bench_ddp: process {len(codes) - 1} did not exit after the run; killed", file=sys.stderr)
            codes[-1] = 0
    if any(codes):
        print(f"bench_ddp: process exit codes {codes}", file=sys.stderr)
        return 1
    sys.stdout.write(out)
    sys.stdout.flush()
    return 0


def child(args):
    import resource

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP

    sys.path.insert(0, HERE)
    import bench_torch  # the same data loading, networks and evaluation as the single-process reference

    rank, world = args.rank, args.processes
    torch.set_num_threads(args.threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{os.environ['MASTER_PORT']}", rank=rank, world_size=world)
    torch.manual_seed(args.seed)  # the same initialisation everywhere (DDP broadcasts rank 0's anyway)
    x_train, y_train = bench_torch.load(args.data, "train")
    x_test, y_test = bench_torch.load(args.data, "test")
    if args.limit is not None:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    n = x_train.shape[0]
    per_process = args.batch // world
    shard_size = (n + world - 1) // world  # DistributedSampler(drop_last=False): pad to a multiple of world
    total = shard_size * world

    net = bench_torch.mlp() if args.workload == "mlp" else bench_torch.cnn()
    if args.init is not None:
        bench_torch.load_init(net, args.init)
    model = DDP(net)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)

    train_seconds = 0.0
    trained = 0
    steps = 0
    accuracy = []
    per_epoch = []
    for epoch in range(args.epochs):
        g = torch.Generator().manual_seed(args.seed + epoch)
        order = torch.randperm(n, generator=g)
        if total > n:
            order = torch.cat([order, order[:total - n]])
        shard = order[rank:total:world]
        dist.barrier()
        start = time.perf_counter()
        for i in range(0, shard_size, per_process):
            idx = shard[i:i + per_process]
            xb, yb = x_train[idx], y_train[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            steps += 1
        seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
        dist.all_reduce(seconds, op=dist.ReduceOp.MAX)
        train_seconds += seconds.item()
        trained += total
        per_epoch.append(round(total / seconds.item(), 1))
        if rank == 0:
            accuracy.append(round(bench_torch.evaluate(model.module, x_test, y_test), 4))

    rss = [None] * world
    dist.all_gather_object(rss, round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1))
    if rank == 0:
        print(json.dumps({
            "system": "pytorch-ddp",
            "version": torch.__version__,
            "backend": "gloo",
            "workload": args.workload,
            "processes": world,
            "threads": args.threads,
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "batch": args.batch,
            "batch_per_process": per_process,
            "epochs": args.epochs,
            "train_samples": total,
            "steps_per_epoch": steps // args.epochs,
            "samples_per_second": round(trained / train_seconds, 1),
            "samples_per_second_epochs": per_epoch,
            "step_ms": round(1000 * train_seconds / max(1, steps), 3),
            "test_accuracy": accuracy,
            "peak_rss_mib": max(rss),
            "peak_rss_mib_per_process": rss,
        }), flush=True)
    # Leave together and skip gloo's teardown: a process whose peer has already closed its sockets could
    # otherwise spin at 100% CPU in gloo's socket loop instead of exiting (seen here with torch 1.13).
    dist.barrier()
    sys.stdout.flush()
    os._exit(0)


def main(argv):
    args = parse(argv)
    return launch(args, argv) if args.rank is None else child(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
