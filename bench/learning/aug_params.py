"""Draw the augmentation parameters of torchvision's classification recipe, as the real
transforms draw them, and print their summary statistics as JSON (one object: key → [n, mean,
sd]). The keys are those of bench/learning/aug_params.ts, which runs this and prints both
sides in one table (npm run bench:aug-params).

The recipe is examples/fashion-mnist.yaml's: 28×28 RGB images, RandomResizedCrop(24),
RandomHorizontalFlip(0.5), TrivialAugmentWide, ToTensor/Normalize, RandomErasing(0.1), then
per batch v2.RandomChoice([MixUp(0.2), CutMix(1.0)]).

Every draw goes through the transforms' own forward (torch's global generator, in their
order); the parameters are read by wrapping the functions that receive them: the instances'
get_params / make_params, autoaugment._apply_op and functional.hflip. Nothing is re-derived
here, so a change of torchvision's sampling shows up in the table.

usage: python aug_params.py [--images N] [--batches N] [--seed S]
"""

import argparse
import json
import math

import torch
import torchvision
import torchvision.transforms as T
import torchvision.transforms.autoaugment as AA
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms import v2 as T2

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
SIZE, CROP = 28, 24
SMOOTHING, CLASSES = 0.1, 10
SIGNED_OPS = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast", "Sharpness")


def target_entropy(lam):
    """Entropy of the smoothed target of a sample mixed with weight lam with another class's
    (the least cross-entropy reachable on it; aug_params.ts targetEntropy)."""
    base = SMOOTHING / CLASSES
    pa = (1 - SMOOTHING) * lam + base
    pb = (1 - SMOOTHING) * (1 - lam) + base
    return -(pa * math.log(pa) + pb * math.log(pb) + (CLASSES - 2) * base * math.log(base))


class Obs:
    """Observations per key; summarized as n, mean, sample sd."""

    def __init__(self):
        self.data = {}

    def add(self, key, x):
        self.data.setdefault(key, []).append(float(x))

    def summary(self):
        out = {}
        for k, xs in self.data.items():
            n = len(xs)
            m = sum(xs) / n
            sd = math.sqrt(sum((x - m) ** 2 for x in xs) / (n - 1)) if n > 1 else 0.0
            out[k] = [n, m, sd]
        return out


def per_image(obs, n, ops):
    rrc = T.RandomResizedCrop(CROP, interpolation=InterpolationMode.BILINEAR, antialias=True)
    flip = T.RandomHorizontalFlip(0.5)
    ta = T.TrivialAugmentWide(interpolation=InterpolationMode.BILINEAR)
    erasing = T.RandomErasing(p=0.1)
    pipeline = T.Compose(
        [rrc, flip, ta, T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(MEAN, STD), erasing]
    )
    cur = {}

    # RandomResizedCrop: get_params calls torch.randint only for an accepted try (the top-left),
    # so no randint inside it means the centre-crop fallback.
    rrc_get = rrc.get_params
    real_randint = torch.randint

    def counting_randint(*a, **k):
        cur["randint"] += 1
        return real_randint(*a, **k)

    def rrc_params(img, scale, ratio):
        assert tuple(scale) == (0.08, 1.0) and tuple(ratio) == (3 / 4, 4 / 3), (scale, ratio)
        cur["randint"] = 0
        torch.randint = counting_randint
        try:
            i, j, h, w = rrc_get(img, scale, ratio)
        finally:
            torch.randint = real_randint
        cur["rrc"] = (h, w, cur["randint"] == 0)
        return i, j, h, w

    rrc.get_params = rrc_params

    real_hflip = TF.hflip

    def hflip(img):
        cur["flip"] = True
        return real_hflip(img)

    real_apply = AA._apply_op

    def apply_op(img, op_name, magnitude, interpolation, fill):
        cur["ta"] = (op_name, magnitude)
        return real_apply(img, op_name, magnitude, interpolation=interpolation, fill=fill)

    re_get = erasing.get_params

    def re_params(img, scale, ratio, value=None):
        i, j, h, w, v = re_get(img, scale=scale, ratio=ratio, value=value)
        # Ten misses return the whole image as its own value: nothing changes.
        cur["erase"] = 0.0 if v is img else h * w / (img.shape[-2] * img.shape[-1])
        return i, j, h, w, v

    erasing.get_params = re_params

    TF.hflip = hflip
    AA._apply_op = apply_op
    try:
        g = torch.Generator().manual_seed(12345)
        img = Image.fromarray(torch.randint(0, 256, (SIZE, SIZE, 3), dtype=torch.uint8, generator=g).numpy())
        for _ in range(n):
            cur.clear()
            out = pipeline(img)
            assert out.shape == (3, CROP, CROP)
            h, w, fallback = cur["rrc"]
            obs.add("rrc.area", h * w / (SIZE * SIZE))
            obs.add("rrc.logRatio", math.log(w / h))
            obs.add("rrc.fallback", fallback)
            obs.add("flip", cur.get("flip", False))
            op, mag = cur["ta"]
            for o in ops:
                obs.add(f"ta.op.{o}", o == op)
            if op in SIGNED_OPS or op in ("Posterize", "Solarize"):
                obs.add(f"ta.mag.{op}", abs(mag))
            if op in SIGNED_OPS and mag != 0:
                # Bin 0 is 0 either way (−0.0 < 0 is false): count the sign where it shows.
                obs.add("ta.negative", mag < 0)
            fired = "erase" in cur
            obs.add("erase.fired", fired)
            if fired:
                obs.add("erase.noFit", cur["erase"] == 0.0)
                obs.add("erase.areaIfFired", cur["erase"])
            obs.add("erase.area", cur.get("erase", 0.0))
    finally:
        TF.hflip = real_hflip
        AA._apply_op = real_apply


def per_batch(obs, n):
    mixup = T2.MixUp(alpha=0.2, num_classes=10)
    cutmix = T2.CutMix(alpha=1.0, num_classes=10)
    choice = T2.RandomChoice([mixup, cutmix])
    cur = {}

    mix_params = mixup.make_params

    def mixup_make(flat):
        p = mix_params(flat)
        cur["mixup"] = p["lam"]
        return p

    cut_params = cutmix.make_params
    real_sample = cutmix._dist.sample

    def cut_sample(*a, **k):
        lam = real_sample(*a, **k)
        cur["drawn"] = float(lam)
        return lam

    def cutmix_make(flat):
        p = cut_params(flat)
        cur["cutmix"] = p
        return p

    mixup.make_params = mixup_make
    cutmix.make_params = cutmix_make
    cutmix._dist.sample = cut_sample
    images = torch.zeros(2, 3, CROP, CROP)
    labels = torch.tensor([0, 1])
    for _ in range(n):
        cur.clear()
        choice(images, labels)
        is_cut = "cutmix" in cur
        obs.add("mix.cutmix", is_cut)
        if is_cut:
            p = cur["cutmix"]
            x1, y1, x2, y2 = p["box"]
            lam = p["lam_adjusted"]
            obs.add("cutmix.lambdaDrawn", cur["drawn"])
            obs.add("cutmix.lambda", lam)
            obs.add("cutmix.boxArea", (x2 - x1) * (y2 - y1) / (CROP * CROP))
            obs.add("cutmix.emptyBox", (x2 - x1) * (y2 - y1) == 0)
        else:
            lam = cur["mixup"]
            obs.add("mixup.lambda", lam)
            obs.add("mixup.minority", min(lam, 1 - lam))
        obs.add(("cutmix" if is_cut else "mixup") + ".targetEntropy", target_entropy(lam))
        obs.add("mix.minority", min(lam, 1 - lam))
        obs.add("mix.targetEntropy", target_entropy(lam))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=20000)
    ap.add_argument("--batches", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    obs = Obs()
    ops = list(T.TrivialAugmentWide()._augmentation_space(31).keys())
    per_image(obs, a.images, ops)
    per_batch(obs, a.batches)
    print(json.dumps({"torchvision": torchvision.__version__, "ops": ops, "stats": obs.summary()}))


if __name__ == "__main__":
    main()
