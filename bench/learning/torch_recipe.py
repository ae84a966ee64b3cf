"""PyTorch/torchvision peer of bench/learning/run.ts: the recipe of torchvision's
references/classification (train.py, presets.py, sampler.py, utils.py) on Fashion-MNIST,
scaled down, with the same model shape, data, world size and hyperparameters as the
Ringmaster run it is compared with.

usage: torch_recipe.py CONFIG.json  → one JSON line per epoch, then {"final": …}

CONFIG: {"recipe": {...Ringmaster recipe fields...}, "world_size": 2, "n_train": N,
         "n_val": V, "source": "/usr/share/datasets/fashion-mnist", "port": 29512}
        or, instead of source/n_train/n_val, "image_folder": DIR with DIR/train and DIR/val
        ImageFolder trees (used to try recipes for the synthetic demo quickly).

Distributed like the reference: one process per rank (gloo on loopback), DDP averaging the
gradients, BatchNorm statistics per rank (no SyncBN), RASampler for training,
DistributedSampler for validation, each rank its own EMA of its own model.
"""
import gzip
import json
import math
import os
import sys

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from PIL import Image
from torch.optim.swa_utils import AveragedModel
from torchvision.models.resnet import BasicBlock, conv1x1
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T2
import torchvision.transforms as T

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


# ------------------------------------------------------------------------------- data


def read_idx(path):
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        return f.read()


def load_split(source, split, limit):
    """The first `limit` images of a split as 3-channel PIL images (as Ringmaster packs them)."""
    prefix = "train" if split == "train" else "t10k"
    raw = read_idx(os.path.join(source, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(source, f"{prefix}-labels-idx1-ubyte.gz"))[8:]
    n, rows, cols = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    n = min(n, limit)
    images = [
        Image.frombytes("L", (cols, rows), raw[16 + i * rows * cols : 16 + (i + 1) * rows * cols]).convert("RGB")
        for i in range(n)
    ]
    return images, [int(b) for b in labels[:n]]


def load_image_folder(root):
    """An ImageFolder tree (sorted class folders, as torchvision and `ringmaster pack` read it)."""
    classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    images, labels = [], []
    for label, c in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(root, c))):
            with Image.open(os.path.join(root, c, f)) as im:
                images.append(im.convert("RGB"))
            labels.append(label)
    return images, labels, len(classes)


class ListDataset(torch.utils.data.Dataset):
    def __init__(self, images, labels, transform):
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def train_transform(r):
    # presets.ClassificationPresetTrain (PIL backend)
    interp = InterpolationMode(r["interpolation"])
    t = [T.RandomResizedCrop(r["trainCropSize"], interpolation=interp, antialias=True)]
    t.append(T.RandomHorizontalFlip(0.5))
    if r["autoAugment"] == "ta_wide":
        t.append(T.TrivialAugmentWide(interpolation=interp))
    t += [T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(MEAN, STD)]
    if r["randomErase"] > 0:
        t.append(T.RandomErasing(p=r["randomErase"]))
    return T.Compose(t)


def eval_transform(r):
    # presets.ClassificationPresetEval
    interp = InterpolationMode(r["interpolation"])
    return T.Compose(
        [
            T.Resize(r["valResizeSize"], interpolation=interp, antialias=True),
            T.CenterCrop(r["valCropSize"]),
            T.PILToTensor(),
            T.ConvertImageDtype(torch.float),
            T.Normalize(MEAN, STD),
        ]
    )


class RASampler(torch.utils.data.Sampler):
    """references/classification/sampler.py: every index repeated `reps` times in a row,
    spread round-robin over the ranks, then cut to floor(floor(N/256)·256 / R)."""

    def __init__(self, n, num_replicas, rank, shuffle=True, seed=0, reps=4):
        self.n, self.num_replicas, self.rank, self.shuffle, self.seed, self.reps = n, num_replicas, rank, shuffle, seed, reps
        self.epoch = 0
        self.num_samples = int(math.ceil(n * reps / num_replicas))
        self.total_size = self.num_samples * num_replicas
        self.num_selected_samples = int(math.floor(n // 256 * 256 / num_replicas))

    def __iter__(self):
        g = torch.Generator()
        g.manual_seed(self.seed + self.epoch)
        indices = torch.randperm(self.n, generator=g) if self.shuffle else torch.arange(self.n)
        indices = torch.repeat_interleave(indices, repeats=self.reps, dim=0).tolist()
        padding = self.total_size - len(indices)
        if padding > 0:
            indices += indices[:padding]
        indices = indices[self.rank : self.total_size : self.num_replicas]
        return iter(indices[: self.num_selected_samples])

    def __len__(self):
        return self.num_selected_samples

    def set_epoch(self, epoch):
        self.epoch = epoch


# ------------------------------------------------------------------------------- model


class SmallResNet(nn.Module):
    """torchvision's ResNet with BasicBlocks, small widths and the 3×3 stride-1 "CIFAR" stem
    without max-pool — Ringmaster's resnet_mini / resnet_small. Init as torchvision's ResNet."""

    def __init__(self, layers, planes, num_classes):
        super().__init__()
        self.inplanes = planes[0]
        self.conv1 = nn.Conv2d(3, planes[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes[0])
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(planes[0], layers[0], 1)
        self.layer2 = self._make_layer(planes[1], layers[1], 2)
        self.layer3 = self._make_layer(planes[2], layers[2], 2)
        self.layer4 = self._make_layer(planes[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


ARCHS = {
    "resnet_mini": ([1, 1, 1, 1], [16, 32, 64, 128]),
    "resnet_small": ([2, 2, 2, 2], [32, 64, 128, 256]),
}


class ExponentialMovingAverage(AveragedModel):
    """references/classification/utils.py: EMA of parameters and buffers."""

    def __init__(self, model, device, decay=0.9999):
        def ema_avg(avg_model_param, model_param, num_averaged):
            return decay * avg_model_param + (1 - decay) * model_param

        super().__init__(model, device, ema_avg, use_buffers=True)


def set_weight_decay(model, weight_decay, norm_weight_decay):
    """references/classification/utils.py set_weight_decay: norm layers' params in their own group."""
    norm_classes = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    norm, other = [], []
    for module in model.modules():
        for p in module.parameters(recurse=False):
            (norm if isinstance(module, norm_classes) else other).append(p)
    return [{"params": other, "weight_decay": weight_decay}, {"params": norm, "weight_decay": norm_weight_decay}]


# ------------------------------------------------------------------------------- loop


def evaluate(model, loader, world):
    model.eval()
    counts = torch.zeros(3, dtype=torch.float64)
    with torch.inference_mode():
        for x, y in loader:
            top5 = model(x).topk(5, dim=1).indices
            counts[0] += (top5[:, 0] == y).sum()
            counts[1] += (top5 == y[:, None]).any(dim=1).sum()
            counts[2] += len(y)
    if world > 1:
        dist.all_reduce(counts)
    return 100 * counts[0].item() / counts[2].item(), 100 * counts[1].item() / counts[2].item()


def run(rank, cfg):
    r, world = cfg["recipe"], cfg["world_size"]
    torch.set_num_threads(cfg.get("threads", 1))
    if world > 1:
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{cfg['port']}", rank=rank, world_size=world)
    torch.manual_seed(r["seed"])  # the same initial weights on every rank (DDP broadcasts rank 0's too)

    if cfg.get("image_folder"):
        train_images, train_labels, num_classes = load_image_folder(os.path.join(cfg["image_folder"], "train"))
        val_images, val_labels, _ = load_image_folder(os.path.join(cfg["image_folder"], "val"))
    else:
        train_images, train_labels = load_split(cfg["source"], "train", cfg["n_train"])
        val_images, val_labels = load_split(cfg["source"], "val", cfg["n_val"])
        num_classes = 10
    train_ds = ListDataset(train_images, train_labels, train_transform(r))
    val_ds = ListDataset(val_images, val_labels, eval_transform(r))
    if world > 1 and r["raSampler"]:
        train_sampler = RASampler(len(train_ds), world, rank, shuffle=True, seed=r["seed"], reps=r["raReps"])
    elif world > 1:
        train_sampler = torch.utils.data.distributed.DistributedSampler(train_ds, world, rank, seed=r["seed"])
    else:
        train_sampler = torch.utils.data.RandomSampler(train_ds)
    val_sampler = (
        torch.utils.data.distributed.DistributedSampler(val_ds, world, rank, shuffle=False)
        if world > 1
        else torch.utils.data.SequentialSampler(val_ds)
    )
    mix = []
    if r["mixupAlpha"] > 0:
        mix.append(T2.MixUp(alpha=float(r["mixupAlpha"]), num_classes=num_classes))
    if r["cutmixAlpha"] > 0:
        mix.append(T2.CutMix(alpha=float(r["cutmixAlpha"]), num_classes=num_classes))
    collate = torch.utils.data.default_collate
    if mix:
        choice = T2.RandomChoice(mix)
        collate = lambda batch: choice(*torch.utils.data.default_collate(batch))  # noqa: E731
    train_loader = torch.utils.data.DataLoader(
        train_ds, batch_size=r["batchSize"], sampler=train_sampler, num_workers=0, collate_fn=collate
    )
    val_loader = torch.utils.data.DataLoader(val_ds, batch_size=r["batchSize"], sampler=val_sampler, num_workers=0)

    layers, planes = ARCHS[r["model"]]
    model = SmallResNet(layers, planes, num_classes)
    params = sum(p.numel() for p in model.parameters())
    groups = set_weight_decay(model, r["weightDecay"], r["normWeightDecay"])
    optimizer = torch.optim.SGD(groups, lr=r["lr"], momentum=r["momentum"], weight_decay=r["weightDecay"])
    main = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=r["epochs"] - r["lrWarmupEpochs"], eta_min=r["lrMin"]
    )
    if r["lrWarmupEpochs"] > 0:
        warmup = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=r["lrWarmupDecay"], total_iters=r["lrWarmupEpochs"]
        )
        scheduler = torch.optim.lr_scheduler.SequentialLR(optimizer, [warmup, main], milestones=[r["lrWarmupEpochs"]])
    else:
        scheduler = main
    ddp = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    criterion = nn.CrossEntropyLoss(label_smoothing=r["labelSmoothing"])

    ema = None
    if r["modelEma"]:
        # train.py: decay adjusted for the global batch and the update interval
        adjust = world * r["batchSize"] * r["modelEmaSteps"] / r["epochs"]
        alpha = min(1.0, (1.0 - r["modelEmaDecay"]) * adjust)
        ema = ExponentialMovingAverage(model, device="cpu", decay=1.0 - alpha)

    for epoch in range(r["epochs"]):
        if hasattr(train_sampler, "set_epoch"):
            train_sampler.set_epoch(epoch)
        ddp.train()
        loss_sum, steps = 0.0, 0
        lr = optimizer.param_groups[0]["lr"]
        for i, (x, t) in enumerate(train_loader):
            loss = criterion(ddp(x), t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if ema is not None and i % r["modelEmaSteps"] == 0:
                ema.update_parameters(model)
                if epoch < r["lrWarmupEpochs"]:
                    ema.n_averaged.fill_(0)  # reset to a copy during warmup
            loss_sum += loss.item()
            steps += 1
        scheduler.step()
        acc1, acc5 = evaluate(model, val_loader, world)
        ema_acc1 = ema_acc5 = None
        if ema is not None:
            ema_acc1, ema_acc5 = evaluate(ema, val_loader, world)
        if rank == 0:
            row = {"epoch": epoch, "lr": lr, "trainLoss": loss_sum / max(1, steps), "acc1": acc1, "acc5": acc5,
                   "emaAcc1": ema_acc1, "emaAcc5": ema_acc5, "params": params}
            print(json.dumps(row), flush=True)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        config = json.load(f)
    if config["world_size"] > 1:
        mp.spawn(run, args=(config,), nprocs=config["world_size"], join=True)
    else:
        run(0, config)
