"""The fixed instance of seed exercise 5 that volo and the peers all run.

100 tasks, each an add (3-7 s) or a mult (3-12 s) of two small integers, on 30 workers, with the
durations scaled by 1/100. The same seed gives the same tasks in every run and on every
system, so makespans compare directly. The lower bound no schedule can beat is
max(total work / workers, longest task).
"""
import random

TASKS = 100
WORKERS = 30
SEED = 2024
SCALE = 0.01
SECONDS = {"add": (3.0, 7.0), "mult": (3.0, 12.0)}


def tasks(seed=SEED, n=TASKS, scale=SCALE):
    """[(op, a, b, seconds)] for the instance."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        op = "mult" if rng.random() < 0.5 else "add"
        a, b = rng.randint(0, 99), rng.randint(0, 99)
        lo, hi = SECONDS[op]
        out.append((op, a, b, rng.uniform(lo, hi) * scale))
    return out


def lower_bound(durations, workers=WORKERS):
    return max(sum(durations) / workers, max(durations))


def expected(op, a, b):
    return a + b if op == "add" else a * b
