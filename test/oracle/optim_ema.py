"""Oracle: torchvision's EMA (references/classification/utils.py ExponentialMovingAverage, an
AveragedModel with use_buffers=True) driven by train.py's schedule: update when the step index
inside the epoch i satisfies i % model_ema_steps == 0, and during the warmup epochs set
n_averaged back to 0 after each update (so the next update copies).

The model is a tiny conv + BatchNorm + linear net whose parameters and buffers are overwritten
with fresh values at every step (the EMA only sees the states, not how they were reached).
num_batches_tracked is an int64 buffer: the average is computed in float32 and copied back
with truncation, which the TS side must mirror.

Writes test/fixtures/oracle/optim/ema.json.
"""
import torch
from torch.optim.swa_utils import AveragedModel

from optim_common import flat, write


class ExponentialMovingAverage(AveragedModel):
    """As torchvision's references/classification/utils.py defines it."""

    def __init__(self, model, decay, device="cpu"):
        def ema_avg(avg_model_param, model_param, num_averaged):
            return decay * avg_model_param + (1 - decay) * model_param

        super().__init__(model, device, ema_avg, use_buffers=True)


def make_model():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 2, 3, bias=False),
        torch.nn.BatchNorm2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(2, 3),
    )


def recipe_decay(world_batch=1024, ema_steps=32, epochs=600, base=0.99998):
    adjust = world_batch * ema_steps / epochs
    alpha = min(1.0, (1.0 - base) * adjust)
    return 1.0 - alpha


def run_case(name, decay, epochs, steps_per_epoch, ema_steps, warmup_epochs, seed):
    torch.manual_seed(seed)
    model = make_model()
    ema = ExponentialMovingAverage(model, decay)
    trace = []
    nbt = 0
    for epoch in range(epochs):
        for i in range(steps_per_epoch):
            with torch.no_grad():
                for p in model.parameters():
                    p.copy_(torch.randn_like(p))
                bn = model[1]
                bn.running_mean.copy_(torch.randn(2))
                bn.running_var.copy_(torch.rand(2) + 0.5)
                nbt += 7
                bn.num_batches_tracked.fill_(nbt)
            updated = False
            if i % ema_steps == 0:
                ema.update_parameters(model)
                updated = True
                if epoch < warmup_epochs:
                    ema.n_averaged.fill_(0)
            trace.append(
                {
                    "epoch": epoch,
                    "step": i,
                    "updated": updated,
                    "model": {k: flat(v) for k, v in model.state_dict().items()},
                    "ema": {k: flat(v) for k, v in ema.module.state_dict().items()},
                    "nAveraged": int(ema.n_averaged),
                }
            )
    sd = model.state_dict()
    return {
        "name": name,
        "decay": decay,
        "epochs": epochs,
        "stepsPerEpoch": steps_per_epoch,
        "modelEmaSteps": ema_steps,
        "lrWarmupEpochs": warmup_epochs,
        "shapes": {k: list(v.shape) for k, v in sd.items()},
        "dtypes": {k: str(v.dtype).replace("torch.", "") for k, v in sd.items()},
        "params": [k for k, _ in model.named_parameters()],
        "buffers": [k for k, _ in model.named_buffers()],
        "trace": trace,
    }


write(
    "ema.json",
    {
        "_script": "optim_ema.py",
        "recipeDecay": recipe_decay(),
        "cases": [
            run_case("recipe-decay", recipe_decay(), 3, 5, 2, 1, 7),
            run_case("strong-decay", 0.6, 3, 5, 2, 1, 8),
            run_case("no-warmup", 0.75, 2, 4, 3, 0, 9),
        ],
    },
)
