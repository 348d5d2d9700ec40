"""The messages of a comparison job, sent after the transaction that made their work commits
(planner.dispatch.send_after_commit): one `planner.comparison_chunk` per chunk, `planner.comparison_finalise`
once every chunk is done. A job has at most COMPARISON_CHUNK_WINDOW chunks in flight; the rest wait
(pending, enqueued_at empty) until release_chunks sends them.

Callers name the senders through this module (`comparison_messages.send_chunk`), so a test can replace them
with a list's append and run the steps inline."""

from __future__ import annotations

from planner.dispatch import send_after_commit
from planner.models import ComparisonChunk

ChunkStatus = ComparisonChunk.Status


def send_chunk(job_id: int, chunk_index: int) -> None:
    """The `planner.comparison_chunk` message (tasks import the services, so planner.tasks is imported
    here lazily)."""
    from planner.tasks import comparison_chunk

    comparison_chunk.apply_async(args=(job_id, chunk_index))


def send_finalise(job_id: int) -> None:
    """The `planner.comparison_finalise` message."""
    from planner.tasks import comparison_finalise

    comparison_finalise.apply_async(args=(job_id,))


def release_chunks(job_id: int, count: int, now) -> int:
    """Send up to `count` more of a job's waiting chunks (pending, never sent), lowest index first; each
    is taken by a conditional update, so two writers releasing at once never send one chunk twice.
    Call inside a transaction: the messages go after commit."""
    sent = 0
    waiting = ComparisonChunk.objects.filter(
        job_id=job_id, status=ChunkStatus.PENDING, enqueued_at__isnull=True
    ).order_by("chunk_index")
    for pk, index in waiting.values_list("pk", "chunk_index")[: count + 2]:
        if sent >= count:
            break
        if ComparisonChunk.objects.filter(pk=pk, enqueued_at__isnull=True).update(enqueued_at=now):
            send_after_commit(send_chunk, job_id, index)
            sent += 1
    return sent
