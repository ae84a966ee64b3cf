"""Oracle for the weights registry's torchvision import (docs/snippets/torchvision_weights.py).

Runs the documented snippet on a torchvision ResNet with the shape of Ringmaster's resnext_mini
(random weights and BN statistics: the pretrained ImageNet files are not downloaded here),
described by a torchvision WeightsEnum exactly as torchvision describes its own weights.
Writes test/fixtures/oracle/registry/:
  tv_import/model.safetensors, tv_import/meta.json   what the snippet writes
  expected.safetensors   logits of ../models/predict.png through torchvision's own
                         `weights.transforms()` and the model in eval mode — what
                         `ringmaster predict --weights NAME --registry R` must reproduce
"""
import os
import sys
from functools import partial

import torch
from PIL import Image
from safetensors.torch import save_file
from torchvision.models._api import Weights, WeightsEnum
from torchvision.models.resnet import Bottleneck
from torchvision.transforms._presets import ImageClassification

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "docs", "snippets"))
from models_resnet import build  # noqa: E402
from torchvision_weights import write_artifact  # noqa: E402

OUT = os.path.join(HERE, "..", "fixtures", "oracle", "registry")
CATEGORIES = ["tench", "goldfish", "shark", "tiger shark", "hammerhead", "ray", "stingray", "cock", "hen", "ostrich"]
CASE = dict(block=Bottleneck, layers=[1, 1, 1, 1], planes=[16, 32, 64, 128], stem="cifar", num_classes=10,
            size=32, groups=4, width_per_group=4)


class ResNextMiniWeights(WeightsEnum):
    ORACLE_V1 = Weights(
        url="file://test/oracle/registry_import.py",
        transforms=partial(ImageClassification, crop_size=32, resize_size=36),
        meta={
            "categories": CATEGORIES,
            "num_params": 218366,
            "recipe": "test/oracle/registry_import.py",
            "_metrics": {"Oracle-10": {"acc@1": 12.5, "acc@5": 50.0}},
        },
    )


def main():
    torch.set_num_threads(1)
    model = build(CASE, 300)
    weights = ResNextMiniWeights.ORACLE_V1
    assert sum(p.numel() for p in model.parameters()) == weights.meta["num_params"]
    write_artifact(model.state_dict(), weights, "resnext_mini", os.path.join(OUT, "tv_import"))
    x = weights.transforms()(Image.open(os.path.join(HERE, "..", "fixtures", "oracle", "models", "predict.png")).convert("RGB"))
    model.eval()
    with torch.no_grad():
        logits = model(x.unsqueeze(0))
    save_file({"logits": logits.contiguous()}, os.path.join(OUT, "expected.safetensors"))
    print("registry tv_import: top-1", CATEGORIES[int(logits.argmax())])


if __name__ == "__main__":
    main()
