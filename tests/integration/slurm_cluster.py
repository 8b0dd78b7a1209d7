"""A real one-node Slurm on localhost for the tests: munged, slurmctld and slurmd from Debian's packages.

Everything lives in one temp dir (munge key and socket, slurm.conf, gres.conf, state, spool, logs,
pid files) and uses free ports, so it never touches the machine's own Slurm or munge. The config is
minimal: no cgroups (proctrack/linuxproc, task/none), no accounting, select/cons_tres. Node ``gw1``
is the real slurmd with 8 CPUs and 2 fake GPUs (character devices made with mknod, /dev/null and
/dev/zero where mknod is not allowed); node ``gw2`` is configured drained ("GPU XID 79") and never
runs a slurmd. Partitions: ``gpu`` (default, 1 h limit) over both nodes, ``debug`` (unlimited) over gw1.

The ``local_slurm`` fixture skips when the binaries are missing, except under ``CI`` where it fails.
``python -m tests.integration.slurm_cluster record DIR`` starts one, submits :data:`STANDARD_JOBS` and
writes sinfo/squeue output (``--json`` and text) into DIR: that is how tests/data/slurm/ was made.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gpuwatch_pod.slurm_collect import (
    SINFO_JSON_ARGS,
    SINFO_PARTITION_ARGS,
    SINFO_TEXT_ARGS,
    SQUEUE_JSON_ARGS,
    SQUEUE_TEXT_ARGS,
)

DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sinfo", "squeue", "sbatch", "scancel", "scontrol")
SEARCH_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
NODE = "gw1"
GHOST = "gw2"
NODE_CPUS, NODE_GPUS = 8, 2
GHOST_CPUS, GHOST_GPUS = 4, 1
DRAIN_REASON = "GPU XID 79"
START_TIMEOUT_S = 60.0
# (sbatch arguments, expected state): started in this order, so the first three run and the rest wait.
STANDARD_JOBS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("-J", "train-a", "--gres=gpu:1", "-c", "2", "-t", "10"), "RUNNING"),
    (("-J", "train-b", "-p", "debug", "--gres=gpu:1", "-c", "2"), "RUNNING"),
    (("-J", "cpu-only", "-c", "2", "--uid=nobody", "--gid=nogroup"), "RUNNING"),
    (("-J", "big", "--gres=gpu:2", "-c", "1", "-t", "5"), "PENDING"),
    (("-J", "held", "-H", "-c", "1"), "PENDING"),
    (("-J", "arr", "-a", "1-3", "-c", "4"), "PENDING"),
)


def missing_binaries() -> list[str]:
    return [name for name in DAEMONS + CLIENTS if shutil.which(name, path=SEARCH_PATH) is None]


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _gpu_devices(root: Path) -> list[str]:
    """Two character devices for the fake GPUs (gres/gpu accepts only devices)."""
    devices = [root / "dev" / f"gpu{k}" for k in range(NODE_GPUS)]
    devices[0].parent.mkdir()
    try:
        for dev in devices:
            os.mknod(dev, 0o644 | 0o020000, os.makedev(1, 3))  # S_IFCHR, like /dev/null
    except OSError:
        return ["/dev/null", "/dev/zero"]
    return [str(dev) for dev in devices]


class LocalSlurm:
    """munged + slurmctld + slurmd in ``root``; ``start()``, ``stop()``, client commands via ``run()``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "slurm.conf"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf), "PATH": SEARCH_PATH, "SLURM_TIME_FORMAT": "standard"}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}

    def _write_config(self) -> None:
        root = self.root
        root.chmod(0o755)  # jobs of user nobody run their script from the spool dir inside
        for sub in ("munge", "run", "state", "spool", "log", "jobs"):
            (root / sub).mkdir(mode=0o700 if sub == "munge" else 0o755)
        (root / "jobs").chmod(0o777)  # jobs of user nobody write here
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        ctld_port, node_port, ghost_port = _free_ports(3)
        host = socket.gethostname().split(".")[0]
        gpus = ",".join(_gpu_devices(root))
        self.conf.write_text(f"""ClusterName=gwtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/run/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
GresTypes=gpu
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SlurmdTimeout=300
SlurmctldDebug=info
SlurmdDebug=info
NodeName={NODE} NodeAddr=127.0.0.1 Port={node_port} CPUs={NODE_CPUS} RealMemory=1000 Gres=gpu:{NODE_GPUS} State=UNKNOWN
NodeName={GHOST} NodeAddr=127.0.0.1 Port={ghost_port} CPUs={GHOST_CPUS} RealMemory=500 Gres=gpu:{GHOST_GPUS} \
State=DRAIN Reason="{DRAIN_REASON}"
PartitionName=gpu Nodes={NODE},{GHOST} Default=YES MaxTime=60 State=UP
PartitionName=debug Nodes={NODE} MaxTime=INFINITE State=UP
""")
        (root / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={gpus}\n")

    def _spawn(self, name: str, *args: str) -> None:
        with (self.root / "log" / f"{name}.out").open("wb") as out:
            self._procs[name] = subprocess.Popen(
                [shutil.which(name, path=SEARCH_PATH) or name, *args], stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=self.env, start_new_session=True,
            )

    def start(self) -> LocalSlurm:
        self._write_config()
        root = self.root
        self._spawn("munged", "-F", "--force", f"--key-file={root}/munge/munge.key",
                    f"--socket={root}/run/munge.socket", f"--pid-file={root}/run/munged.pid",
                    f"--log-file={root}/log/munged.log", f"--seed-file={root}/munge/munged.seed")
        self.wait_for(lambda: (root / "run" / "munge.socket").exists(), "munged to create its socket")
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self.wait_for(lambda: self._ok("scontrol", "ping") and "UP" in self.run("scontrol", "ping"),
                      "slurmctld to answer")
        self._spawn("slurmd", "-D", "-N", NODE, "-f", str(self.conf))
        self.wait_for(lambda: self.run("sinfo", "-h", "-n", NODE, "-o", "%T").strip() == "idle",
                      f"node {NODE} to become idle")
        return self

    def _ok(self, *argv: str) -> bool:
        return subprocess.run(argv, env=self.env, capture_output=True, timeout=30, check=False).returncode == 0

    def run(self, *argv: str) -> str:
        """A Slurm client command against this cluster; its stdout. CalledProcessError when it fails."""
        return subprocess.run(argv, env=self.env, capture_output=True, timeout=30, check=True, text=True).stdout

    def wait_for(self, condition: Callable[[], bool], what: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Poll an outside daemon's state (there is no event to wait on) until ``condition`` holds."""
        deadline = time.monotonic() + timeout_s
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited ({proc.returncode}) while waiting for {what}: {self.logs()}")
            with contextlib.suppress(subprocess.SubprocessError):
                if condition():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}: {self.logs()}")
            time.sleep(0.2)

    def logs(self) -> str:
        tails = []
        for path in sorted((self.root / "log").glob("*")):
            lines = path.read_text(errors="replace").splitlines()[-8:]
            tails.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(tails)

    def sbatch(self, *args: str) -> str:
        """Submit a ``sleep 600`` batch job; its job id."""
        out = self.run("sbatch", "--parsable", "-D", str(self.root / "jobs"), "-o", "/dev/null", *args,
                       "--wrap", "sleep 600")
        return out.strip().split(";")[0]

    def states(self) -> dict[str, str]:
        """Job id (as squeue prints %i) -> state."""
        return {job_id: state for job_id, state, _ in self._queue()}

    def _queue(self) -> list[list[str]]:
        return [line.split("|") for line in self.run("squeue", "-h", "-o", "%i|%T|%r").splitlines() if line]

    def pending_reasons_set(self) -> bool:
        """True once the scheduler has looked at every pending job (none left with reason "None")."""
        return all(reason != "None" for _, state, reason in self._queue() if state == "PENDING")

    def submit_standard_jobs(self) -> dict[str, str]:
        """Submit :data:`STANDARD_JOBS` one by one (each running one started before the next); name -> id."""
        ids = {}
        for args, expected in STANDARD_JOBS:
            job_id = self.sbatch(*args)
            ids[args[1]] = job_id
            if expected == "RUNNING":
                self.wait_for(lambda j=job_id: self.states().get(j) == "RUNNING", f"job {job_id} to run")
        self.wait_for(self.pending_reasons_set, "the scheduler to give pending jobs a reason")
        return ids

    def stop(self) -> None:
        """Cancel every job, then stop slurmd, slurmctld and munged (SIGTERM, then SIGKILL)."""
        if "slurmctld" in self._procs and self._procs["slurmctld"].poll() is None:
            with contextlib.suppress(subprocess.SubprocessError, OSError, TimeoutError, RuntimeError):
                self.run("scancel", "--full", "--quiet", *self.states())
                self.wait_for(lambda: not self.states(), "jobs to end", timeout_s=30)
        for name in reversed(list(self._procs)):
            proc = self._procs.pop(name)
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@contextlib.contextmanager
def running_slurm() -> Iterator[LocalSlurm]:
    """A started cluster with :data:`STANDARD_JOBS` in a fresh dir under the system temp dir (not pytest's:
    its 0700 parents would keep user nobody out); stopped and removed on exit."""
    cluster = LocalSlurm(Path(tempfile.mkdtemp(prefix="gpuwatch-slurm-")))
    try:
        cluster.start()
        cluster.submit_standard_jobs()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)


@pytest.fixture(scope="session", name="local_slurm")
def local_slurm_fixture() -> Iterator[LocalSlurm]:
    """A running one-node Slurm with :data:`STANDARD_JOBS` submitted (skipped without Slurm, except in CI)."""
    missing = missing_binaries()
    if missing:
        message = f"a real Slurm needs {', '.join(missing)} (Debian: apt-get install slurm-wlm munge)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() != 0:
        pytest.skip("slurmd must run as root to start jobs")
    with running_slurm() as cluster:
        yield cluster


def record(out_dir: Path) -> None:
    """Write sinfo/squeue output of a fresh cluster with the standard jobs into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    commands = {
        "sinfo.json": ("sinfo", *SINFO_JSON_ARGS),
        "sinfo_partitions.txt": ("sinfo", *SINFO_PARTITION_ARGS),
        "sinfo_nodes.txt": ("sinfo", *SINFO_TEXT_ARGS),
        "squeue.json": ("squeue", *SQUEUE_JSON_ARGS),
        "squeue.txt": ("squeue", *SQUEUE_TEXT_ARGS),
    }
    with running_slurm() as cluster:
        for name, argv in commands.items():
            (out_dir / name).write_text(cluster.run(*argv))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        sys.exit("usage: python -m tests.integration.slurm_cluster record DIR")
    record(Path(sys.argv[2]))
