"""Shared helpers for the optim oracles: deterministic inputs and JSON output.

The fixtures hold float32 values as JSON numbers (repr of the float32 widened to double, so
they round-trip exactly through Float32Array).
"""
import json
import os

import torch

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "oracle", "optim")


def flat(t):
    """A tensor as a flat list of Python numbers (float32 widened exactly to double)."""
    t = t.detach().cpu().contiguous()
    if t.dtype.is_floating_point:
        return [float(x) for x in t.to(torch.float32).reshape(-1).tolist()]
    return [int(x) for x in t.reshape(-1).tolist()]


def write(name, payload):
    os.makedirs(ROOT, exist_ok=True)
    path = os.path.join(ROOT, name)
    payload = {"generator": f"test/oracle/{payload.pop('_script')}", "torch": torch.__version__, **payload}
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(path)}")
