"""Write torchvision weights as a Ringmaster weights artifact, ready for `ringmaster weights publish`.

    python docs/snippets/torchvision_weights.py resnet50 IMAGENET1K_V2 out/resnet50-v2
    ringmaster weights publish out/resnet50-v2 --name resnet50.IMAGENET1K_V2 --registry REG

The artifact is what a Ringmaster run writes (docs/methodology.md, "Named weights"):
model.safetensors holds the state_dict as it is — Ringmaster's weights format *is* torchvision's
names and PyTorch layouts (OIHW convs, fc.weight [out, in], int64 num_batches_tracked), so no
renaming — and meta.json carries `weights.meta` and `weights.transforms()`. Needs torch,
torchvision and safetensors (pip install safetensors).
"""
import enum
import json
import os
import sys

from safetensors.torch import save_file


def write_artifact(state_dict, weights, arch, out_dir):
    """state_dict: the model's; weights: a torchvision WeightsEnum member; arch: Ringmaster's model name."""
    os.makedirs(out_dir, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt", "arch": arch})
    t = weights.transforms()
    (dataset, figures), = weights.meta["_metrics"].items()
    name = f"{type(weights).__name__}.{weights.name}" if isinstance(weights, enum.Enum) else str(weights.url)
    meta = {
        "arch": arch,
        "categories": list(weights.meta["categories"]),
        "ema": False,
        "dataset": dataset,
        "metrics": {"acc1": figures["acc@1"], "acc5": figures["acc@5"]},
        "transforms": {
            "resizeSize": int(t.resize_size[0]),
            "cropSize": int(t.crop_size[0]),
            "interpolation": t.interpolation.value,
            "mean": list(t.mean),
            "std": list(t.std),
        },
        "origin": {
            "source": "torchvision",
            "weights": name,
            "url": weights.url,
            "recipe": weights.meta.get("recipe"),
            "num_params": weights.meta.get("num_params"),
            "_ops": weights.meta.get("_ops"),
        },
    }
    with open(os.path.join(out_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    from torchvision.models import get_model, get_model_weights

    arch, tag, out = sys.argv[1:4]
    weights = get_model_weights(arch)[tag]
    write_artifact(get_model(arch, weights=weights).state_dict(), weights, arch, out)
    print(f"wrote {out}: ringmaster weights publish {out} --name {arch}.{tag} --registry REGISTRY")
