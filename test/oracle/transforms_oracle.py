"""Oracle for trainer/data/transforms: torchvision (PIL backend) on small committed images.

Writes test/fixtures/oracle/transforms/: manifest.json (cases, magnitude tables, parameter
draw statistics) plus PNG outputs (lossless uint8) and a few float32 tensors (.f32, little
endian, HWC). The committed input images under test/fixtures/images/ are generated here
once (synthetic, photo-like: gradients, edges, texture) if missing, so no third-party
photos are needed.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torchvision
from PIL import Image, ImageDraw, ImageFilter
from torchvision.transforms import InterpolationMode
from torchvision.transforms import functional as F
from torchvision.transforms import transforms as T
from torchvision.transforms.autoaugment import TrivialAugmentWide, _apply_op

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
IMAGES = os.path.join(ROOT, "test", "fixtures", "images")
OUT = os.path.join(ROOT, "test", "fixtures", "oracle", "transforms")


def scene(width, height, seed):
    """A photo-like synthetic scene: sky gradient, sun, textured hills, objects with edges."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    sky = np.stack(
        [60 + 120 * y / height, 110 + 90 * y / height, 230 - 60 * y / height], axis=-1
    )
    img = sky
    horizon = height * (0.55 + 0.1 * np.sin(x / width * 2 * math.pi * rng.uniform(0.7, 1.6)))
    ground = y > horizon
    tex = rng.normal(0, 1, (height, width)).astype(np.float32)
    tex = np.array(Image.fromarray(((tex * 40) + 128).clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8)), dtype=np.float32) - 128
    g = np.stack([70 + 0.9 * tex + 40 * x / width, 120 + 1.2 * tex, 40 + 0.6 * tex], axis=-1)
    img = np.where(ground[..., None], g, img)
    pil = Image.fromarray(img.clip(0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(pil)
    r = max(3, width // 10)
    cx, cy = int(width * rng.uniform(0.6, 0.85)), int(height * rng.uniform(0.12, 0.3))
    d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(255, 226, 120))
    for _ in range(4):
        w = int(width * rng.uniform(0.08, 0.22))
        h = int(height * rng.uniform(0.1, 0.3))
        x0 = int(rng.uniform(0, width - w))
        y0 = int(height * rng.uniform(0.45, 0.9) - h)
        col = tuple(int(c) for c in rng.integers(20, 235, 3))
        d.rectangle([x0, y0, x0 + w, y0 + h], fill=col, outline=(20, 20, 20))
        d.polygon([(x0, y0), (x0 + w // 2, y0 - h // 3), (x0 + w, y0)], fill=(150, 40, 30))
    d.line([(0, height - 1), (width - 1, int(height * 0.7))], fill=(240, 240, 240), width=2)
    return pil


def ensure_images():
    os.makedirs(IMAGES, exist_ok=True)
    specs = [
        ("scene_a.png", 96, 72, 1),
        ("scene_b.png", 45, 59, 2),
        ("scene_c.png", 320, 240, 3),
        ("scene_c.jpg", 320, 240, 3),
    ]
    for name, w, h, seed in specs:
        path = os.path.join(IMAGES, name)
        if os.path.exists(path):
            continue
        img = scene(w, h, seed)
        if name.endswith(".jpg"):
            img.save(path, quality=90)
        else:
            img.save(path, optimize=True)


def load(name):
    return Image.open(os.path.join(IMAGES, name)).convert("RGB")


def save_png(img, name):
    img.save(os.path.join(OUT, name), optimize=True)
    return name


def save_f32(t, name):
    arr = t.permute(1, 2, 0).contiguous().numpy().astype("<f4")
    arr.tofile(os.path.join(OUT, name))
    return name


INTERP = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}


def ta_cases(manifest):
    space = TrivialAugmentWide()._augmentation_space(31)
    manifest["taSpace"] = {
        op: {"magnitudes": [float(v) for v in m.reshape(-1).tolist()] if m.ndim > 0 else None, "signed": s}
        for op, (m, s) in space.items()
    }
    cases = []
    for image in ["scene_a.png", "scene_b.png"]:
        img = load(image)
        for op, (mags, signed) in space.items():
            if mags.ndim == 0:
                choices = [0.0]
            else:
                bins = [0, 10, 20, 30] if op in ("Posterize", "Solarize") else [3, 12, 20, 30]
                choices = [float(mags[b].item()) for b in bins]
                if signed:
                    choices += [-m for m in choices]
            extra = {"Brightness": [0.33], "Rotate": [30.0], "Posterize": [4.0], "Solarize": [128.0]}
            choices += extra.get(op, [])
            for m in choices:
                out = _apply_op(img, op, m, interpolation=InterpolationMode.BILINEAR, fill=None)
                name = f"ta_{image[:-4]}_{op}_{m:+.6f}.png".replace("+", "p").replace("-", "m")
                cases.append({"image": image, "op": op, "magnitude": m, "output": save_png(out, name)})
    # The affine ops with bicubic (a recipe with --interpolation bicubic passes it to TA-wide).
    for image in ["scene_a.png", "scene_b.png"]:
        img = load(image)
        for op, m in [("Rotate", 30.0), ("Rotate", -112.5), ("ShearX", 0.5), ("ShearY", -0.33), ("TranslateX", -7.0)]:
            out = _apply_op(img, op, m, interpolation=InterpolationMode.BICUBIC, fill=None)
            name = f"ta_bicubic_{image[:-4]}_{op}_{m:+.3f}.png".replace("+", "p").replace("-", "m")
            cases.append({"image": image, "op": op, "magnitude": m, "interpolation": "bicubic", "output": save_png(out, name)})
    manifest["ta"] = cases


def rrc_cases(manifest):
    img = load("scene_c.png")
    cases = []
    for (top, left, h, w), size, interp in [
        ((10, 20, 200, 150), 176, "bilinear"),
        ((0, 0, 240, 320), 176, "bilinear"),
        ((50, 60, 40, 30), 176, "bilinear"),
        ((33, 47, 181, 237), 64, "bilinear"),
        ((33, 47, 181, 237), 64, "bicubic"),
        ((33, 47, 181, 237), 64, "nearest"),
        ((5, 9, 120, 100), 100, "bilinear"),
        ((100, 0, 60, 320), 176, "bilinear"),
        ((0, 100, 240, 100), 120, "bicubic"),
    ]:
        out = F.resized_crop(img, top, left, h, w, [size, size], interpolation=INTERP[interp], antialias=True)
        name = f"rrc_{top}_{left}_{h}_{w}_{size}_{interp}.png"
        cases.append(
            {"image": "scene_c.png", "box": {"top": top, "left": left, "height": h, "width": w}, "size": size,
             "interpolation": interp, "output": save_png(out, name)}
        )
    manifest["rrc"] = cases


def eval_cases(manifest):
    cases = []
    for image, resize, crop in [("scene_c.png", 232, 224), ("scene_a.png", 80, 64), ("scene_b.png", 50, 40),
                                ("scene_c.jpg", 232, 224)]:
        img = load(image)
        pre = T.Compose([T.Resize(resize, interpolation=InterpolationMode.BILINEAR, antialias=True), T.CenterCrop(crop)])
        out = pre(img)
        name = f"eval_{image.replace('.', '_')}_{resize}_{crop}.png"
        tensor = T.Compose([T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])(out)
        cases.append({"image": image, "resizeSize": resize, "cropSize": crop, "output": save_png(out, name),
                      "tensor": save_f32(tensor, name[:-4] + ".f32") if crop <= 64 else None})
    manifest["eval"] = cases


def erase_cases(manifest):
    img = load("scene_b.png")
    t = T.Compose([T.PILToTensor(), T.ConvertImageDtype(torch.float), T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])(img)
    cases = []
    for i, j, h, w in [(3, 4, 20, 11), (0, 0, 58, 44), (40, 30, 19, 15)]:
        out = F.erase(t.clone(), i, j, h, w, torch.tensor([0.0])[:, None, None])
        cases.append({"image": "scene_b.png", "box": {"top": i, "left": j, "height": h, "width": w},
                      "tensor": save_f32(out, f"erase_{i}_{j}_{h}_{w}.f32")})
    manifest["normalized"] = save_f32(t, "normalized_scene_b.f32")
    manifest["erase"] = cases


def draw_stats(manifest, n=20000):
    torch.manual_seed(0)
    rrc = []
    for W, H in [(500, 375), (64, 400), (1000, 120), (30, 30)]:
        img = Image.new("RGB", (W, H))
        ws, hs, fb = [], [], 0
        for _ in range(n):
            i, j, h, w = T.RandomResizedCrop.get_params(img, scale=[0.08, 1.0], ratio=[3 / 4, 4 / 3])
            ws.append(w)
            hs.append(h)
        ws, hs = np.array(ws, float), np.array(hs, float)
        rrc.append({"width": W, "height": H, "n": n, "meanW": ws.mean(), "meanH": hs.mean(), "stdW": ws.std(),
                    "stdH": hs.std(), "meanArea": (ws * hs).mean() / (W * H), "fullFrac": float(((ws == W) & (hs == H)).mean())})
    er = []
    for H, W in [(176, 176), (224, 100)]:
        t = torch.zeros(3, H, W)
        ws, hs, miss = [], [], 0
        for _ in range(n):
            i, j, h, w, v = T.RandomErasing.get_params(t, scale=(0.02, 0.33), ratio=(0.3, 3.3), value=[0.0])
            if h == H and w == W:
                miss += 1
                continue
            ws.append(w)
            hs.append(h)
        ws, hs = np.array(ws, float), np.array(hs, float)
        er.append({"width": W, "height": H, "n": n, "meanW": ws.mean(), "meanH": hs.mean(), "stdW": ws.std(),
                   "stdH": hs.std(), "missFrac": miss / n})
    manifest["drawStats"] = {"rrc": rrc, "erase": er}


def main():
    ensure_images()
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": Image.__version__}
    ta_cases(manifest)
    rrc_cases(manifest)
    eval_cases(manifest)
    erase_cases(manifest)
    draw_stats(manifest)
    with open(os.path.join(OUT, "manifest.json"), "w") as fh:
        json.dump(manifest, fh, indent=1)
    print(f"transforms oracle: {len(manifest['ta'])} TA cases, {len(manifest['rrc'])} RRC, {len(manifest['eval'])} eval", file=sys.stderr)


if __name__ == "__main__":
    main()
