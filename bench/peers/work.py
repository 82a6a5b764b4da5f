"""The task bodies every Python peer runs, byte for byte the same.

No framework imports here: RQ's work-horses and Dask's workers import this module, and the
cost of importing it must not depend on the peer.
"""
import os
import time


def noop(x):
    """Returns its argument: the no-op task of the throughput and round-trip measures."""
    return x


def seed_op(op, a, b, seconds):
    """The seed exercise's task: wait `seconds`, then add or multiply.

    Returns (value, started, finished, pid) so the client can check the answer and see when
    and where the peer ran it.
    """
    started = time.time()
    time.sleep(seconds)
    value = a + b if op == "add" else a * b
    return (value, started, time.time(), os.getpid())
