"""Oracle: torch.optim.SGD (momentum, weight decay, two parameter groups) over three steps.

Writes test/fixtures/oracle/optim/sgd.json: the initial parameters, the gradient fed at each
step, the learning rate of each step, and the parameters and momentum buffers after each step.
One case uses the recipe's numbers (momentum 0.9, wd 2e-5 / norm 0.0), one a large decay (so
the decay term is far above float32 noise) and one Nesterov.
"""
import torch

from optim_common import flat, write

torch.manual_seed(1234)

SHAPES = {
    "conv1.weight": (4, 3, 3, 3),
    "bn1.weight": (4,),
    "bn1.bias": (4,),
    "fc.weight": (5, 4),
    "fc.bias": (5,),
}
NORM = {"bn1.weight", "bn1.bias"}
LRS = [0.5, 0.104, 0.203]


def run_case(name, momentum, nesterov, wd, norm_wd):
    init = {k: torch.randn(s) for k, s in SHAPES.items()}
    params = {k: torch.nn.Parameter(v.clone()) for k, v in init.items()}
    groups = [
        {"params": [params[k] for k in SHAPES if k not in NORM], "weight_decay": wd},
        {"params": [params[k] for k in SHAPES if k in NORM], "weight_decay": norm_wd},
    ]
    opt = torch.optim.SGD(groups, lr=LRS[0], momentum=momentum, nesterov=nesterov)
    steps = []
    for lr in LRS:
        for g in opt.param_groups:
            g["lr"] = lr
        grads = {k: torch.randn(s) for k, s in SHAPES.items()}
        for k, p in params.items():
            p.grad = grads[k].clone()
        opt.step()
        steps.append(
            {
                "lr": lr,
                "grads": {k: flat(v) for k, v in grads.items()},
                "params": {k: flat(p) for k, p in params.items()},
                "momentum": {k: flat(opt.state[p]["momentum_buffer"]) for k, p in params.items()},
            }
        )
    return {
        "name": name,
        "momentum": momentum,
        "nesterov": nesterov,
        "groups": [
            {"names": [k for k in SHAPES if k not in NORM], "weightDecay": wd},
            {"names": [k for k in SHAPES if k in NORM], "weightDecay": norm_wd},
        ],
        "shapes": {k: list(s) for k, s in SHAPES.items()},
        "init": {k: flat(v) for k, v in init.items()},
        "steps": steps,
    }


write(
    "sgd.json",
    {
        "_script": "optim_sgd.py",
        "cases": [
            run_case("recipe", 0.9, False, 2e-5, 0.0),
            run_case("large-decay", 0.9, False, 0.1, 0.01),
            run_case("nesterov", 0.9, True, 0.05, 0.0),
        ],
    },
)
