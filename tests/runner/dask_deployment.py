"""A Dask deployment as an operator runs one: a ``dask scheduler`` and ``dask worker``
processes on loopback, over TCP or TLS, and the certificates for TLS.

The workers run without nannies, so a process the test kills stays dead, and with this folder
on their ``PYTHONPATH``, so plugins defined in these helper modules can be sent to them.
"""

import datetime
import ipaddress
import json
import os
import signal
import subprocess
from pathlib import Path

from e2e_helpers import BIN, stop_process, wait_for

HERE = Path(__file__).resolve().parent


def make_certificates(folder, *, ca_name="dkmeans-test-ca"):
    """A new CA, and a certificate and key it signed for 127.0.0.1 and localhost.

    One certificate serves the scheduler, the workers and the client, as in a small
    deployment. Returns ``{"ca_file", "cert", "key"}``: paths of PEM files in ``folder``.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def name(common_name):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def build(subject, issuer, public_key, *, ca):
        now = datetime.datetime.now(datetime.timezone.utc)
        return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                .public_key(public_key).serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = build(name(ca_name), name(ca_name), ca_key.public_key(), ca=True).sign(
        ca_key, hashes.SHA256())
    cert = (build(name("localhost"), ca.subject, key.public_key(), ca=False)
            .add_extension(x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"ca_file": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca_file"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return {k: str(v) for k, v in paths.items()}


def security(tls):
    """``distributed.Security`` for a client holding the certificates ``tls`` (or None)."""
    if tls is None:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=tls["ca_file"], tls_client_cert=tls["cert"],
                    tls_client_key=tls["key"], require_encryption=True)


class Deployment:
    """``dask scheduler`` + single-threaded ``dask worker`` processes, started by :meth:`start`.

    Parameters
    ----------
    folder : Path
        Holds the scheduler file and each process's log.
    workers : int, default 2
    tls : dict, optional
        ``{"ca_file", "cert", "key"}`` (see :func:`make_certificates`): the scheduler listens
        on ``tls://`` and every process presents this certificate.
    """

    def __init__(self, folder, *, workers=2, tls=None):
        self.folder, self.n_workers, self.tls = Path(folder), workers, tls
        self.scheduler, self.workers, self.address = None, [], None
        self._logs = []

    def _start(self, name, *args):
        log = open(self.folder / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]))
        return subprocess.Popen([str(BIN / "dask"), *args], stdout=log, stderr=subprocess.STDOUT,
                                cwd=self.folder, env=env)

    def start(self):
        """Start every process and wait until the workers have joined; returns ``self``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        scheduler_file = self.folder / "scheduler.json"
        tls_args = [] if self.tls is None else [
            "--tls-ca-file", self.tls["ca_file"], "--tls-cert", self.tls["cert"],
            "--tls-key", self.tls["key"]]
        protocol = [] if self.tls is None else ["--protocol", "tls"]
        self.scheduler = self._start(
            "scheduler", "scheduler", "--host", "127.0.0.1", "--port", "0", *protocol,
            "--scheduler-file", str(scheduler_file), "--no-dashboard", *tls_args)
        for i in range(self.n_workers):
            self.workers.append(self._start(
                f"worker-{i}", "worker", "--scheduler-file", str(scheduler_file), "--nthreads",
                "1", "--no-nanny", "--no-dashboard", "--host", "127.0.0.1", "--memory-limit",
                "1GiB", "--name", f"w{i}", *tls_args))
        self.address = wait_for(lambda: _address(scheduler_file), timeout=60, interval=0.1,
                                what="the scheduler file")
        with self.client(timeout=60) as client:
            client.wait_for_workers(self.n_workers, timeout=60)
            pids = client.run(os.getpid)
        assert sorted(pids.values()) == sorted(p.pid for p in self.workers)
        return self

    def client(self, *, timeout=30):
        """A new ``distributed.Client`` of this deployment (close it, or use ``with``)."""
        from distributed import Client

        return Client(self.address, timeout=timeout, security=security(self.tls))

    @property
    def processes(self):
        """The scheduler's and the workers' ``Popen`` objects."""
        return [p for p in [self.scheduler, *self.workers] if p is not None]

    def kill_scheduler(self):
        """SIGKILL the scheduler process and reap it."""
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(timeout=30)

    def log(self, name):
        """The output of process ``name`` ("scheduler", "worker-0", ...) so far."""
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def stop(self):
        """Stop every process still running: the workers first, then the scheduler."""
        try:
            for proc in reversed(self.processes):
                stop_process(proc)
        finally:
            for log in self._logs:
                log.close()
        assert all(proc.poll() is not None for proc in self.processes)


def _address(scheduler_file):
    try:
        return json.loads(scheduler_file.read_text())["address"]
    except (OSError, ValueError, KeyError):  # not written yet, or half written
        return None
