"""The torchvision peer of bench/data/transforms.ts: ClassificationPresetTrain (PIL backend)
with the recipe's settings, on the same JPEG files, on one thread.

Usage: python transforms_torchvision.py DIR SECONDS  → prints one JSON line.
"""

import io
import json
import os
import sys
import time

import torch
from PIL import Image
from torchvision.transforms import InterpolationMode
import torchvision.transforms as T

torch.set_num_threads(1)


def preset(crop_size=176):
    # references/classification/presets.py ClassificationPresetTrain(crop_size=176,
    # interpolation=bilinear, auto_augment_policy="ta_wide", random_erase_prob=0.1).
    return T.Compose(
        [
            T.RandomResizedCrop(crop_size, interpolation=InterpolationMode.BILINEAR, antialias=True),
            T.RandomHorizontalFlip(0.5),
            T.TrivialAugmentWide(interpolation=InterpolationMode.BILINEAR),
            T.PILToTensor(),
            T.ConvertImageDtype(torch.float),
            T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
            T.RandomErasing(p=0.1),
        ]
    )


def main():
    folder, seconds = sys.argv[1], float(sys.argv[2])
    files = sorted(f for f in os.listdir(folder) if f.endswith(".jpg"))
    blobs = [open(os.path.join(folder, f), "rb").read() for f in files]
    t = preset()
    torch.manual_seed(0)

    def one(b):
        # torchvision's default loader: Image.open(f).convert("RGB")
        img = Image.open(io.BytesIO(b)).convert("RGB")
        return t(img)

    for b in blobs[:20]:
        one(b)
    n = 0
    start = time.perf_counter()
    cpu0 = time.process_time()
    while time.perf_counter() - start < seconds:
        for b in blobs:
            one(b)
            n += 1
    el = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    print(json.dumps({"images": n, "seconds": el, "cpuSeconds": cpu, "imagesPerSecond": n / el,
                      "imagesPerCpuSecond": n / cpu, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
