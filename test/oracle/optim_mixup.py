"""Oracle: torchvision's MixUp and CutMix (torchvision.transforms.v2, whose arithmetic is the
one of references/classification/transforms.py RandomMixup/RandomCutmix) with the random
draws pinned: lambda is fed through a stub distribution and torch.randint is replaced by a
function returning the given centre. So torchvision's own code computes the box, the adjusted
lambda, the pasted images and the mixed one-hot targets for known draws.

Images are stored NHWC (Ringmaster's layout); torchvision runs on the NCHW transpose.
Writes test/fixtures/oracle/optim/mixup.json.
"""
from unittest import mock

import torch
from torchvision.transforms import v2
from torchvision.transforms.v2 import _augment

from optim_common import flat, write


class FixedDist:
    def __init__(self, lam):
        self.lam = lam

    def sample(self, shape=()):
        return torch.tensor(self.lam, dtype=torch.float32)


def run(kind, lam, centre, B, H, W, C, classes, seed):
    torch.manual_seed(seed)
    nhwc = torch.randn(B, H, W, C)
    labels = torch.randint(classes, (B,))
    t = (v2.MixUp if kind == "mixup" else v2.CutMix)(alpha=1.0, num_classes=classes)
    t._dist = FixedDist(lam)
    draws = list(centre) if centre is not None else []
    captured = {}

    def fake_randint(high, size=None, **_):
        v = draws.pop(0)
        assert 0 <= v < high
        return torch.tensor([v])

    real_make_params = v2.CutMix.make_params

    def spy(self, flat_inputs):
        p = real_make_params(self, flat_inputs)
        captured.update(p)
        return p

    with mock.patch.object(_augment.torch, "randint", fake_randint), mock.patch.object(v2.CutMix, "make_params", spy):
        out, target = t(nhwc.permute(0, 3, 1, 2).contiguous(), labels)
    # The lambda torchvision used: float(sample) of a float32 tensor, i.e. lam rounded to float32.
    used = float(torch.tensor(lam, dtype=torch.float32))
    res = {
        "kind": kind,
        "lambdaDrawn": used,
        "batch": B,
        "height": H,
        "width": W,
        "channels": C,
        "classes": classes,
        "images": flat(nhwc),
        "labels": flat(labels),
        "outImages": flat(out.permute(0, 2, 3, 1)),
        "outTargets": flat(target),
    }
    if kind == "cutmix":
        res["rx"], res["ry"] = centre
        res["box"] = list(captured["box"])
        res["lambda"] = captured["lam_adjusted"]
    else:
        res["lambda"] = used
    return res


def box_only(lam, rx, ry, H, W):
    """The box arithmetic alone, through torchvision's CutMix.make_params."""
    t = v2.CutMix(alpha=1.0, num_classes=2)
    t._dist = FixedDist(lam)
    draws = [rx, ry]
    with mock.patch.object(_augment.torch, "randint", lambda high, size=None, **_: torch.tensor([draws.pop(0)])):
        p = t.make_params([torch.zeros(1, 1, H, W)])
    return {
        "lambdaDrawn": float(torch.tensor(lam, dtype=torch.float32)),
        "rx": rx,
        "ry": ry,
        "height": H,
        "width": W,
        "box": list(p["box"]),
        "lambda": p["lam_adjusted"],
    }


boxes = []
g = torch.Generator().manual_seed(5)
for H, W in [(7, 5), (5, 7), (224, 224), (176, 176), (1, 1), (3, 8)]:
    for lam in [0.0, 1e-6, 0.13, 0.5, 0.87, 0.999999, 1.0]:
        for _ in range(3):
            rx = int(torch.randint(W, (1,), generator=g))
            ry = int(torch.randint(H, (1,), generator=g))
            boxes.append(box_only(lam, rx, ry, H, W))
    boxes.append(box_only(0.3, 0, 0, H, W))
    boxes.append(box_only(0.3, W - 1, H - 1, H, W))

write(
    "mixup.json",
    {
        "_script": "optim_mixup.py",
        "batches": [
            run("mixup", 0.3141, None, 4, 5, 7, 3, 6, 1),
            run("mixup", 0.97, None, 3, 2, 2, 3, 4, 2),
            run("cutmix", 0.42, (5, 1), 4, 5, 7, 3, 6, 3),
            run("cutmix", 0.05, (0, 4), 3, 6, 4, 2, 5, 4),
            run("cutmix", 0.9, (3, 3), 1, 6, 6, 3, 3, 5),
        ],
        "boxes": boxes,
    },
)
