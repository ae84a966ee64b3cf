"""PyTorch CPU peer of bench/train-step/run.ts: images/s of a full training step
(forward, backward, SGD with momentum and weight decay) of a torchvision model.

usage: torch_step.py ARCH SIZE BATCH THREADS STEPS  → prints one JSON line
"""
import json
import sys
import time

import torch
import torchvision

arch, size, batch, threads, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
model = getattr(torchvision.models, arch)(num_classes=1000)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=2e-5)
x = torch.randn(batch, 3, size, size)
y = torch.randint(0, 1000, (batch,))
loss_fn = torch.nn.CrossEntropyLoss()


def step():
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(model(x), y)
    loss.backward()
    opt.step()


step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = (time.perf_counter() - t0) / steps
print(json.dumps({"arch": arch, "threads": threads, "images_per_s": batch / dt, "step_s": dt}))
