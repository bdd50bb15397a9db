"""Shared training plumbing: threads, device, checkpoints that let a run resume, and a console progress line."""

import os
import sys
import time

import torch


def setup(threads=None, seed=0):
    torch.set_num_threads(threads or os.cpu_count() or 1)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.backends.cudnn.benchmark = True  # fixed input sizes: let cuDNN pick its fastest convolutions once
        return torch.device("cuda")
    return torch.device("cpu")


def save_checkpoint(path, **state):
    tmp = path + ".tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a run killed mid-write keeps the previous checkpoint


def load_checkpoint(path, device):
    return torch.load(path, map_location=device) if path and os.path.exists(path) else None


class Progress:
    """One line per update on a terminal, at most one every 10 s otherwise."""

    def __init__(self, title, total):
        self.title, self.total, self.start, self.last = title, total, time.time(), 0.0

    def update(self, done, extra=""):
        now = time.time()
        if done < self.total and now - self.last < (0.5 if sys.stderr.isatty() else 10):
            return
        self.last = now
        elapsed = now - self.start
        eta = elapsed * (self.total - done) / max(done, 1)
        line = f"{self.title} {done}/{self.total} {100 * done / self.total:5.1f}% {elapsed:6.0f}s eta {eta:5.0f}s {extra}"
        end = "\n" if done >= self.total or not sys.stderr.isatty() else ""
        print(("\r" if sys.stderr.isatty() else "") + line, end=end, file=sys.stderr, flush=True)
