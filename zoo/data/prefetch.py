"""Run a generator in a background thread a few items ahead (extraction reads and hashes files while
MTCNN runs). Moved verbatim from `zoo.data.extract`."""
from __future__ import annotations


def prefetch(iterable, maxsize: int):
    """Run a generator in a thread, `maxsize` items ahead: files are read and hashed while MTCNN runs
    (OpenCV decoding and TensorFlow both release the GIL). Its exceptions are re-raised here."""
    import queue
    import threading

    q: queue.Queue = queue.Queue(maxsize=max(1, maxsize))
    stop = threading.Event()
    end = object()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run():
        try:
            for item in iterable:
                if not put(item):
                    return
            put((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((end, exc))

    thread = threading.Thread(target=run, name="facezoo-extract-reader", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if isinstance(item, tuple) and item and item[0] is end:
                if item[1] is not None:
                    raise item[1]
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
