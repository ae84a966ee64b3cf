"""Oracle: torch.nn.CrossEntropyLoss(label_smoothing=...) on probability (soft) targets and on
class indices, with the gradient with respect to the logits.

Writes test/fixtures/oracle/optim/loss.json.
"""
import torch

from optim_common import flat, write

torch.manual_seed(99)
B, C = 6, 7


def case(name, logits, targets, eps):
    x = logits.clone().requires_grad_(True)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=eps)(x, targets)
    loss.backward()
    return {
        "name": name,
        "labelSmoothing": eps,
        "batch": B,
        "classes": C,
        "logits": flat(logits),
        "targets": flat(targets),
        "targetKind": "index" if targets.dtype == torch.int64 else "soft",
        "loss": float(loss.detach()),
        "grad": flat(x.grad),
    }


logits = torch.randn(B, C) * 3
labels = torch.randint(C, (B,))
onehot = torch.nn.functional.one_hot(labels, C).float()
lam = 0.37
soft = lam * onehot + (1 - lam) * onehot.roll(1, 0)
dense = torch.softmax(torch.randn(B, C), dim=1)

write(
    "loss.json",
    {
        "_script": "optim_loss.py",
        "cases": [
            case("soft-mixed-ls0.1", logits, soft, 0.1),
            case("soft-dense-ls0.1", logits, dense, 0.1),
            case("soft-mixed-ls0", logits, soft, 0.0),
            case("index-ls0.1", logits, labels, 0.1),
            case("index-ls0", logits, labels, 0.0),
        ],
    },
)
