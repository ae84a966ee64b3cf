"""Oracle: torchvision's set_weight_decay split (references/classification/utils.py) of the
parameters of resnet50 and resnext50_32x4d into the "other" and "norm" groups: parameters
owned directly by a normalization layer go to "norm". Names in named_parameters() order.

Writes test/fixtures/oracle/optim/groups.json.
"""
import torch
import torchvision

from optim_common import write

NORM_CLASSES = (
    torch.nn.modules.batchnorm._BatchNorm,
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.modules.instancenorm._InstanceNorm,
    torch.nn.LocalResponseNorm,
)


def split(model):
    groups = {"other": [], "norm": []}

    def visit(module, prefix):
        for name, _ in module.named_parameters(recurse=False):
            key = "norm" if isinstance(module, NORM_CLASSES) else "other"
            groups[key].append(prefix + name)
        for child_name, child in module.named_children():
            visit(child, prefix + child_name + ".")

    visit(model, "")
    order = [n for n, _ in model.named_parameters()]
    return {"names": order, **groups}


write(
    "groups.json",
    {
        "_script": "optim_groups.py",
        "models": {
            "resnet50": split(torchvision.models.resnet50()),
            "resnext50_32x4d": split(torchvision.models.resnext50_32x4d()),
            "resnet18": split(torchvision.models.resnet18()),
        },
    },
)
