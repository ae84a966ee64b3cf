"""Oracle for trainer/models: torchvision's own ResNet blocks, small widths, fixed seeds.

Writes test/fixtures/oracle/models/:
  <case>.weights.safetensors  state_dict (torchvision names, OIHW), BN stats randomised so
                              that eval-mode BN is not the identity
  <case>.io.safetensors       input (NCHW), logits in eval mode, logits of one training-mode
                              forward, and every BN buffer after that forward ("after.<name>")
  <case>.grads.safetensors    loss and every parameter's gradient of one training step
                              (cross-entropy, labels i % classes), for the two small cases
  state_dict_shapes.json      names/shapes/dtypes of full-size torchvision state_dicts
  predict.png, predict.io.safetensors
                              an image, and the eval logits of basic_imagenet_stem on it after
                              torchvision's eval transform (resize 72 bilinear antialias, center
                              crop 64, normalize) — what `ringmaster predict` must reproduce
"""
import json
import os

import torch
import torch.nn as nn
from safetensors.torch import save_file
from torchvision.models import resnet
from torchvision.models.resnet import BasicBlock, Bottleneck

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures", "oracle", "models")


class SmallResNet(resnet.ResNet):
    """torchvision.models.resnet.ResNet with configurable stage widths and stem.

    Same blocks (torchvision's BasicBlock / Bottleneck via ResNet._make_layer), same init.
    stem 'imagenet' is torchvision's; 'cifar' is Ringmaster's 3x3 s1 stem without max-pool.
    """

    def __init__(self, block, layers, planes, stem, num_classes, groups=1, width_per_group=64):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = planes[0]
        self.dilation = 1
        self.groups = groups
        self.base_width = width_per_group
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=3, stride=1, padding=1, bias=False)
            self.maxpool = nn.Identity()
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, planes[0], layers[0])
        self.layer2 = self._make_layer(block, planes[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, planes[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, planes[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(planes[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


CASES = {
    # Basic blocks with torchvision's stem at 64 px: stride-2 7x7, max-pool, downsamples.
    "basic_imagenet_stem": dict(block=BasicBlock, layers=[1, 1, 1, 1], planes=[8, 16, 32, 64],
                                stem="imagenet", num_classes=10, size=64),
    # Ringmaster's resnext_mini: bottlenecks with 4 groups of width 4, cifar stem at 32 px.
    "resnext_mini": dict(block=Bottleneck, layers=[1, 1, 1, 1], planes=[16, 32, 64, 128],
                         stem="cifar", num_classes=10, size=32, groups=4, width_per_group=4),
    # Two basic blocks per stage (identity shortcuts) on an odd input size.
    "basic_two_blocks_odd": dict(block=BasicBlock, layers=[2, 1, 1, 1], planes=[8, 8, 16, 16],
                                 stem="imagenet", num_classes=5, size=37),
}


def build(case, seed):
    torch.manual_seed(seed)
    kw = {k: v for k, v in case.items() if k not in ("size",)}
    m = SmallResNet(**kw)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.BatchNorm2d):
                c = mod.num_features
                mod.weight.copy_(torch.rand(c, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                mod.running_var.copy_(torch.rand(c, generator=g) + 0.5)
                mod.num_batches_tracked.fill_(3)
    return m


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(1)
    for i, (name, case) in enumerate(CASES.items()):
        m = build(case, 100 + i)
        weights = {k: v.detach().clone().contiguous() for k, v in m.state_dict().items()}
        save_file(weights, os.path.join(OUT, f"{name}.weights.safetensors"))
        x = torch.randn(3, 3, case["size"], case["size"], generator=torch.Generator().manual_seed(7 + i))
        m.eval()
        with torch.no_grad():
            eval_logits = m(x)
        m.train()
        with torch.no_grad():
            train_logits = m(x)
        io = {"input": x, "logits_eval": eval_logits, "logits_train": train_logits}
        for k, v in m.state_dict().items():
            if "running" in k or "num_batches" in k:
                io["after." + k] = v.detach().clone().contiguous()
        save_file(io, os.path.join(OUT, f"{name}.io.safetensors"))
        if name != "basic_imagenet_stem":
            # Gradients of one training step: cross-entropy on labels i % classes, from the
            # saved weights (a fresh model: the forward above moved the BN buffers only).
            g_model = build(case, 100 + i)
            g_model.train()
            labels = torch.arange(x.shape[0]) % case["num_classes"]
            loss = torch.nn.functional.cross_entropy(g_model(x), labels)
            loss.backward()
            grads = {"loss": loss.detach().reshape(1)}
            for k, p in g_model.named_parameters():
                grads["grad." + k] = p.grad.detach().clone().contiguous()
            save_file(grads, os.path.join(OUT, f"{name}.grads.safetensors"))
        print(name, "params", sum(p.numel() for p in m.parameters()))

    # predict: a synthetic 90x75 RGB image (smooth gradients + noise), PNG (lossless).
    import numpy as np
    from PIL import Image
    from torchvision import transforms as T
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:75, 0:90]
    img = np.stack([xx * 2.5, yy * 3.0, (xx + yy) * 1.5], axis=-1) + rng.normal(0, 25, (75, 90, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    Image.fromarray(img).save(os.path.join(OUT, "predict.png"))
    tf = T.Compose([
        T.Resize(72, interpolation=T.InterpolationMode.BILINEAR, antialias=True),
        T.CenterCrop(64),
        T.ToTensor(),
        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])
    x = tf(Image.open(os.path.join(OUT, "predict.png")).convert("RGB")).unsqueeze(0)
    m = build(CASES["basic_imagenet_stem"], 100)
    m.eval()
    with torch.no_grad():
        logits = m(x)
    save_file({"input": x.contiguous(), "logits": logits}, os.path.join(OUT, "predict.io.safetensors"))

    shapes = {}
    for arch in ["resnet18", "resnet50", "resnext50_32x4d", "wide_resnet50_2"]:
        sd = getattr(resnet, arch)().state_dict()
        shapes[arch] = [[k, list(v.shape), str(v.dtype).replace("torch.", "")] for k, v in sd.items()]
    with open(os.path.join(OUT, "state_dict_shapes.json"), "w") as f:
        json.dump(shapes, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
