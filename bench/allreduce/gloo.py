"""One rank of the all-reduce benchmark's peer: torch.distributed with the gloo backend.

Usage: python gloo.py RANK WORLD PORT '[bytes, ...]' '[iters, ...]'
Rank 0 prints one JSON line: per size, the median over iterations of the slowest rank's time.
"""
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.distributed as dist


def cpu() -> float:
    """User + system CPU seconds of this process, all threads (gloo works in its own)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    rank, world, port = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    sizes, iters = json.loads(sys.argv[4]), json.loads(sys.argv[5])
    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world
    )
    out = []
    for nbytes, n in zip(sizes, iters):
        x = torch.ones(nbytes // 4, dtype=torch.float32)
        dist.all_reduce(x)  # warm-up
        times, cpus = [], []
        for _ in range(n):
            dist.barrier()
            c0 = cpu()
            t0 = time.perf_counter()
            dist.all_reduce(x)
            t = torch.tensor([time.perf_counter() - t0, cpu() - c0], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)  # a collective ends with its slowest rank
            times.append(t[0].item())
            cpus.append(t[1].item())
        out.append(
            {
                "bytes": nbytes,
                "iters": n,
                "medianS": statistics.median(times),
                "minS": min(times),
                "cpuS": statistics.median(cpus),
            }
        )
    if rank == 0:
        print(json.dumps({"gloo": out}), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    main()
