"""The publish lock: one publisher at a time per output, stale locks expire."""

import os
import threading
import time

import pytest

from dkmeans.errors import StorageError
from dkmeans.io.publish_lock import LOCK_NAME, publish_lock
from dkmeans.io.storage import StorageHandle


def test_a_second_publisher_waits_then_gives_up(tmp_path):
    handle = StorageHandle(str(tmp_path))
    with publish_lock(handle, "first"):
        assert (tmp_path / LOCK_NAME).read_text() == "first"
        with pytest.raises(StorageError, match="Another run is publishing"):
            with publish_lock(handle, "second", wait=0.3, poll=0.05):
                pass
    assert not (tmp_path / LOCK_NAME).exists()


def test_publishers_take_turns(tmp_path):
    handle = StorageHandle(str(tmp_path))
    inside, overlaps = [], []

    def publish(name):
        with publish_lock(handle, name, poll=0.01):
            inside.append(name)
            if len(inside) > 1:
                overlaps.append(list(inside))
            time.sleep(0.05)
            inside.remove(name)

    threads = [threading.Thread(target=publish, args=(f"run{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


def test_a_stale_lock_left_by_a_crash_is_taken_over(tmp_path):
    (tmp_path / LOCK_NAME).write_text("crashed")
    old = time.time() - 3600
    os.utime(tmp_path / LOCK_NAME, (old, old))
    with publish_lock(StorageHandle(str(tmp_path)), "next", wait=1.0):
        assert (tmp_path / LOCK_NAME).read_text() == "next"
