"""benchmarks/seeds.py's PyTorch rows: a sequential loop over seeds and ``torch.func`` over
stacked seeds, with resident-memory sampling. Takes the ``torch`` module as an argument, so this
imports without torch installed."""

from __future__ import annotations

import copy
import threading
import time

import numpy as np

from seeds_common import ALPHA, LR, Data, Workload


def torch_net(torch, w: Workload):
    layers = []
    for i, (a, b) in enumerate(zip(w.sizes[:-1], w.sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(w.sizes) - 2:
            if w.batchnorm:
                layers.append(torch.nn.BatchNorm1d(b, momentum=1 - 0.9, eps=1e-5))  # the engine's bn defaults
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def torch_data(torch, data: Data, device):
    """The run's arrays as torch tensors (labels as int64, what cross_entropy takes)."""
    x, y, vx, vy = (torch.from_numpy(np.array(a)) for a in data.numpy)
    return x.to(device), y.long().to(device), vx.to(device), vy.long().to(device)


class RssPeak:
    """Peak resident-memory growth of this process while the body runs, sampled every 2 ms."""

    def __init__(self):
        import psutil

        self.proc, self.peak, self.start = psutil.Process(), 0, 0

    def __enter__(self):
        self.start = self.peak = self.proc.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self):
        while not self.done.wait(0.002):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def grown(self) -> int:
        return self.peak - self.start


class TorchSeq:
    """PyTorch the usual way: one model and one ``torch.optim.SGD(momentum)`` per seed, in turn."""

    def __init__(self, torch, w, S, steps, data: Data, device):
        self.torch, self.steps, self.batch = torch, steps, w.batch
        torch.manual_seed(0)
        with RssPeak() as rss:
            self.nets = [torch_net(torch, w).to(device) for _ in range(S)]
            self.opts = [torch.optim.SGD(n.parameters(), lr=LR, momentum=ALPHA) for n in self.nets]
            self.x, self.y, self.vx, self.vy = torch_data(torch, data, device)
            self.gens = [torch.Generator().manual_seed(i) for i in range(S)]
            t0 = time.perf_counter()
            self()
            self.compile_s = time.perf_counter() - t0  # the first call; its excess is reported
        params = sum(p.numel() * p.element_size() for n in self.nets for p in n.parameters())
        buffers = sum(b.numel() * b.element_size() for n in self.nets for b in n.buffers() if b.is_floating_point())
        self.state = 2 * params + buffers  # params + momentum buffers + BN running stats
        self.mem = rss.grown

    def __call__(self):
        torch, B = self.torch, self.batch
        F = torch.nn.functional
        for net, opt, gen in zip(self.nets, self.opts, self.gens):
            order = torch.randperm(self.x.shape[0], generator=gen).to(self.x.device)
            for t in range(self.steps):
                idx = order[t * B:(t + 1) * B]
                opt.zero_grad(set_to_none=True)
                F.cross_entropy(net(self.x[idx]), self.y[idx]).backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                F.cross_entropy(net(self.vx), self.vy)
            net.train()
        if self.x.is_cuda:
            torch.cuda.synchronize()


class TorchFunc:
    """PyTorch's functional way: the seeds' parameters stacked, ``vmap(grad(functional_call))``
    for all seeds' gradients in one call, momentum SGD as ``torch._foreach`` ops."""

    def __init__(self, torch, w, S, steps, data: Data, device):
        from torch.func import functional_call, grad, stack_module_state, vmap

        self.torch, self.steps, self.batch, self.S = torch, steps, w.batch, S
        torch.manual_seed(0)
        with RssPeak() as rss:
            nets = [torch_net(torch, w).to(device) for _ in range(S)]
            self.params, self.buffers = stack_module_state(nets)
            self.velocity = {k: torch.zeros_like(v) for k, v in self.params.items()}
            self.base = copy.deepcopy(nets[0]).to("meta")
            del nets
            base, F = self.base, torch.nn.functional

            def loss(p, b, x, y):
                return F.cross_entropy(functional_call(base, (p, b), (x,)), y)

            self.grads = vmap(grad(loss))
            self.evaluate = vmap(loss, in_dims=(0, 0, None, None))  # every seed on the shared validation set
            self.x, self.y, self.vx, self.vy = torch_data(torch, data, device)
            self.gens = [torch.Generator().manual_seed(i) for i in range(S)]
            t0 = time.perf_counter()
            self()
            self.compile_s = time.perf_counter() - t0
        self.state = sum(t.numel() * t.element_size() for d in (self.params, self.velocity) for t in d.values()) + sum(
            b.numel() * b.element_size() for b in self.buffers.values() if b.is_floating_point())
        self.mem = rss.grown

    def __call__(self):
        torch, B = self.torch, self.batch
        names = list(self.params)
        p, v = [self.params[k] for k in names], [self.velocity[k] for k in names]
        order = torch.stack([torch.randperm(self.x.shape[0], generator=g) for g in self.gens]).to(self.x.device)
        for t in range(self.steps):
            idx = order[:, t * B:(t + 1) * B]
            g = self.grads(self.params, self.buffers, self.x[idx], self.y[idx])
            with torch.no_grad():  # torch.optim.SGD's rule: m <- alpha m + g; theta -= lr m
                torch._foreach_mul_(v, ALPHA)
                torch._foreach_add_(v, [g[k] for k in names])
                torch._foreach_add_(p, v, alpha=-LR)
        self.base.eval()
        with torch.no_grad():
            self.evaluate(self.params, self.buffers, self.vx, self.vy)
        self.base.train()
        if self.x.is_cuda:
            torch.cuda.synchronize()

