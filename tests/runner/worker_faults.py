"""Faults a test injects inside worker processes, as ``distributed`` worker plugins.

Workers import this module by name to unpickle a plugin: the :class:`~dask_deployment.
Deployment` puts this folder on their ``PYTHONPATH``.
"""

import os
import signal

from distributed.diagnostics.plugin import WorkerPlugin


class DieWritingLabelPart(WorkerPlugin):
    """The first worker to write a label part dies half-way through it (SIGKILL).

    It writes the first half of the part's Parquet bytes to the path it was given (the torn
    file a crash leaves), records its process id and that path in ``marker``, and kills
    itself. The marker is created exclusively, so one worker dies, once; every other write
    goes through.

    Parameters
    ----------
    marker : str or Path
        A file that must not exist yet; holds the killed worker's pid and, on the next line,
        the path of the torn file afterwards.
    """

    name = "dkmeans-test-die-writing-label-part"

    def __init__(self, marker):
        self.marker = str(marker)

    def setup(self, worker):
        import pyarrow as pa
        import pyarrow.parquet as pq

        write_table, marker = pq.write_table, self.marker

        def write_or_die(table, where, *args, **kwargs):
            if not (isinstance(where, str) and "/labels/part-" in where):
                return write_table(table, where, *args, **kwargs)
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:  # another worker died already
                return write_table(table, where, *args, **kwargs)
            os.write(fd, f"{os.getpid()}\n{where}".encode())
            os.close(fd)
            buffer = pa.BufferOutputStream()
            write_table(table, buffer, *args, **kwargs)
            data = buffer.getvalue().to_pybytes()
            with open(where, "wb") as f:
                f.write(data[: len(data) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)

        # write_label_part calls pq.write_table at run time, so it finds this one
        pq.write_table = write_or_die
