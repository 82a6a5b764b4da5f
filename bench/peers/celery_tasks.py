"""The Celery application of the peer benchmark: Redis as broker and result store.

Celery's defaults are kept (prefork pool, prefetch multiplier 4, early acks): the comparison is
with Celery as people run it, not with a tuned one.
"""
import os

from celery import Celery

import work

REDIS = os.environ["PEER_REDIS_URL"]

app = Celery("volo_peers", broker=REDIS, backend=REDIS)
app.conf.update(task_default_queue="volo_peers", task_serializer="json",
                result_serializer="json", accept_content=["json"],
                worker_hijack_root_logger=False)


@app.task(name="volo_peers.noop")
def noop(x):
    return work.noop(x)


@app.task(name="volo_peers.seed_op")
def seed_op(op, a, b, seconds):
    return work.seed_op(op, a, b, seconds)


@app.task(name="volo_peers.count")
def count(xs):
    """A chord's callback: how many results the group handed on."""
    return len(xs)
