"""Oracle: torchvision's accuracy(output, target, topk=(1, 5)) (references/classification/utils.py:
topk of the logits, compared with the target, counted over the first k rows).

Writes test/fixtures/oracle/optim/metrics.json.
"""
import torch

from optim_common import flat, write


def accuracy(output, target, topk=(1,)):
    with torch.inference_mode():
        maxk = max(topk)
        batch_size = target.size(0)
        if target.ndim == 2:
            target = target.max(dim=1)[1]
        _, pred = output.topk(maxk, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target[None])
        res = []
        for k in topk:
            correct_k = correct[:k].flatten().sum(dtype=torch.float32)
            res.append(correct_k * (100.0 / batch_size))
        return res


torch.manual_seed(3)
cases = []
for B, C in [(16, 10), (33, 100), (8, 5)]:
    logits = torch.randn(B, C)
    labels = torch.randint(C, (B,))
    # Make some rows easy (label on top) so Acc@1 is not near zero.
    for b in range(0, B, 3):
        logits[b, labels[b]] = logits[b].max() + 1.0
    a1, a5 = accuracy(logits, labels, topk=(1, 5))
    cases.append(
        {
            "batch": B,
            "classes": C,
            "logits": flat(logits),
            "labels": flat(labels),
            "acc1": float(a1),
            "acc5": float(a5),
        }
    )

write("metrics.json", {"_script": "optim_metrics.py", "accuracy": cases})
