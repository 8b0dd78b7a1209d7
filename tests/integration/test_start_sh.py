"""pod_image/start.sh with stand-in daemons on PATH: what it writes and starts per role, how it supervises.

Each stand-in (munged, slurmctld, slurmd, vllm, gpuwatch-pod, nvidia-smi) sends its argv, environment
and PID as one datagram to a socket the test reads, then runs until SIGTERM (or exits with the code in
STANDIN_EXIT_<SERVICE>). start.sh runs unprivileged in a temporary tree (GPUWATCH_ETC, ..._LOG_DIR, ...).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

START_SH = Path(__file__).parents[2] / "pod_image" / "start.sh"
TOKEN = "pod-token-7f3c2a9e41d84b0c9e5a6d1f"
MUNGE_KEY = "munge-key-4e1b9c7d2a8f4e3b9c1d7a6e5f4b3c2d"
HF_TOKEN = "hf_token_9a8b7c6d5e4f3a2b1c0d"
SECRETS = (TOKEN, MUNGE_KEY, HF_TOKEN)
MODEL = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
STANDINS = ("munged", "slurmctld", "slurmd", "vllm", "gpuwatch-pod", "nvidia-smi")

STANDIN = """#!{python}
import json, os, signal, socket, sys
name = os.path.basename(sys.argv[0])
if name == "nvidia-smi":
    for i in range(int(os.environ.get("STANDIN_GPUS", "0"))):
        print(f"GPU {{i}}: NVIDIA H100 80GB HBM3 (UUID: GPU-0000000{{i}})")
    sys.exit(0)
service = sys.argv[1] if name == "gpuwatch-pod" else name
record = {{"service": service, "argv": sys.argv[1:], "env": dict(os.environ), "pid": os.getpid()}}
with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as out:
    out.sendto(json.dumps(record).encode(), os.environ["STANDIN_SOCKET"])
exit_code = os.environ.get("STANDIN_EXIT_" + service.upper().replace("-", "_"))
if exit_code is not None:
    sys.exit(int(exit_code))
if service == "munged":
    path = next(a.split("=", 1)[1] for a in sys.argv if a.startswith("--socket="))
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    signal.pause()
"""


class Pod:
    """One start.sh run in a temporary tree; ``records`` are the stand-ins it started, by service."""

    def __init__(self, root: Path, short_dir: str, sock: socket.socket) -> None:
        self.root, self.sock = root, sock
        self.run_dir = f"{short_dir}/run"  # short and world-searchable, as munged wants its socket's path
        self.records: dict[str, list[dict[str, Any]]] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stderr = ""
        self.bindir = bindir = root / "bin"
        bindir.mkdir()
        for name in STANDINS:
            path = bindir / name
            path.write_text(STANDIN.format(python=sys.executable))
            path.chmod(0o755)
        me = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout.strip()
        self.base_env = {
            "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}", "HOME": str(root), "LANG": "C.UTF-8",
            "GPUWATCH_ETC": str(root / "etc"), "GPUWATCH_LOG_DIR": str(root / "log"),
            "GPUWATCH_RUN_DIR": self.run_dir, "GPUWATCH_STATE_DIR": str(root / "state"),
            "GPUWATCH_MUNGE_USER": me, "GPUWATCH_SLURM_USER": me, "GPUWATCH_STOP_TIMEOUT_S": "10",
            "STANDIN_SOCKET": sock.getsockname(), "STANDIN_GPUS": "2",
        }

    def start(self, **env: str) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(
            ["bash", str(START_SH)], env={**self.base_env, **env}, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        )
        return self.proc

    def read_stderr_until(self, pattern: str, timeout: float = 30.0) -> str:
        """start.sh's stderr up to the first line matching ``pattern``."""
        assert self.proc is not None and self.proc.stderr is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stderr.fileno()  # raw reads: a buffered reader would hide lines from select()
        while not re.search(pattern, self.stderr):
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"start.sh never said {pattern!r}; it said:\n{self.stderr}"
            chunk = os.read(fd, 65536).decode()
            assert chunk, f"start.sh ended before saying {pattern!r}:\n{self.stderr}"
            self.stderr += chunk
        return self.stderr

    def collect(self, wanted: dict[str, int], timeout: float = 30.0) -> dict[str, list[dict[str, Any]]]:
        """Read records until each service in ``wanted`` has started that many times."""
        deadline = time.monotonic() + timeout
        while any(len(self.records.get(s, [])) < n for s, n in wanted.items()):
            ready, _, _ = select.select([self.sock], [], [], max(0.0, deadline - time.monotonic()))
            assert ready, f"started: {sorted(self.records)}; wanted {wanted}; start.sh said:\n{self.stderr}"
            record = json.loads(self.sock.recv(1 << 20))
            self.records.setdefault(record["service"], []).append(record)
        return self.records

    def stop(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=60)
        self.stderr += err.decode() + out.decode()
        return self.proc.returncode

    def finish(self) -> int:
        assert self.proc is not None
        out, err = self.proc.communicate(timeout=60)
        self.stderr += err.decode() + out.decode()
        return self.proc.returncode

    def no_stand_in_left(self) -> None:
        for runs in self.records.values():
            for record in runs:
                assert not Path(f"/proc/{record['pid']}").exists() or _is_zombie(record["pid"]), record["service"]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    short_dir = tempfile.mkdtemp(prefix="startsh")  # short: a socket path has at most 107 bytes
    os.chmod(short_dir, 0o755)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(short_dir, "records"))
    the_pod = Pod(tmp_path, short_dir, sock)
    try:
        yield the_pod
    finally:
        if the_pod.proc is not None and the_pod.proc.poll() is None:
            os.killpg(the_pod.proc.pid, signal.SIGKILL)
        if the_pod.proc is not None:
            the_pod.proc.communicate()
        sock.close()
        shutil.rmtree(short_dir)


def head_env(**extra: str) -> dict[str, str]:
    return {
        "GPUWATCH_ROLE": "head", "GPUWATCH_CLUSTER": "GpuWatch", "GPUWATCH_WORKERS": "3",
        "GPUWATCH_GPUS_PER_NODE": "2", "GPUWATCH_CPUS_PER_NODE": "16", "GPUWATCH_POD_TOKEN": TOKEN,
        "GPUWATCH_MUNGE_KEY": MUNGE_KEY, "MODEL_NAME": MODEL, "TOOL_CALL_PARSER": "hermes",
        "MAX_MODEL_LEN": "32768", "HF_TOKEN": HF_TOKEN, "RUNPOD_POD_ID": "h3adp0d", **extra,
    }


def worker_env(**extra: str) -> dict[str, str]:
    return {
        "GPUWATCH_ROLE": "worker", "GPUWATCH_CLUSTER": "gpuwatch", "GPUWATCH_WORKERS": "3",
        "GPUWATCH_WORKER_INDEX": "2", "GPUWATCH_HEAD_HOST": "h3adp0d.runpod.internal",
        "GPUWATCH_GPUS_PER_NODE": "2", "GPUWATCH_POD_TOKEN": TOKEN, "GPUWATCH_MUNGE_KEY": MUNGE_KEY,
        "HF_TOKEN": HF_TOKEN, **extra,
    }


def conf_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


HEAD_SERVICES = {"munged", "slurmctld", "slurmd", "log-server", "gpu-exporter", "slurm-exporter", "vllm"}


def test_shellcheck_finds_nothing() -> None:
    if shutil.which("shellcheck") is None:
        if os.environ.get("CI"):
            pytest.fail("shellcheck is not installed (apt-get install shellcheck)")
        pytest.skip("shellcheck is not installed")
    result = subprocess.run(["shellcheck", str(START_SH)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_head_writes_munge_key_and_slurm_config(pod: Pod) -> None:
    pod.start(**head_env())
    pod.read_stderr_until("pod ready")
    key = pod.root / "etc" / "munge" / "munge.key"
    assert key.read_text() == MUNGE_KEY
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    conf = pod.root / "etc" / "slurm" / "slurm.conf"
    lines = conf_lines(conf)
    settings = dict(line.split("=", 1) for line in lines if not line.startswith(("NodeName=", "PartitionName=")))
    short_host = os.uname().nodename.split(".")[0]
    assert settings["ClusterName"] == "gpuwatch"
    assert settings["SlurmctldHost"] == f"{short_host}(h3adp0d.runpod.internal)"
    assert settings["SlurmctldParameters"] == "enable_configless,cloud_reg_addrs"
    assert settings["AuthInfo"] == f"socket={pod.run_dir}/munge/munge.socket.2"
    assert settings["StateSaveLocation"] == f"{pod.root}/state/slurmctld"
    assert [line for line in lines if line.startswith(("NodeName=", "PartitionName="))] == [
        f"NodeName=head NodeHostname={short_host} NodeAddr=h3adp0d.runpod.internal CPUs=16 Gres=gpu:2 State=UNKNOWN",
        "NodeName=worker-[1-3] CPUs=16 Gres=gpu:2 State=CLOUD",
        "PartitionName=gpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    assert conf_lines(conf.parent / "gres.conf") == ["NodeName=head,worker-[1-3] Name=gpu File=/dev/nvidia[0-1]"]
    assert pod.stop() == 0


def test_head_starts_its_services_each_with_only_its_secrets(pod: Pod) -> None:
    pod.start(**head_env())
    pod.read_stderr_until("pod ready")
    started = pod.collect(dict.fromkeys(HEAD_SERVICES, 1))
    args = {name: runs[0]["argv"] for name, runs in started.items()}
    envs = {name: runs[0]["env"] for name, runs in started.items()}
    conf, logs = f"{pod.root}/etc/slurm/slurm.conf", f"{pod.root}/log"
    assert args["slurmctld"] == ["-D", "-i", "-f", conf]
    assert args["slurmd"] == ["-D", "-N", "head", "-f", conf]
    assert args["munged"][:3] == ["--foreground", f"--key-file={pod.root}/etc/munge/munge.key",
                                  f"--socket={pod.run_dir}/munge/munge.socket.2"]
    assert args["gpu-exporter"] == ["gpu-exporter", "--backend", "nvml", "--port", "9400", "--hostname", "head"]
    assert args["slurm-exporter"] == ["slurm-exporter", "--port", "9341"]
    assert envs["slurm-exporter"]["SLURM_CONF"] == conf
    assert args["vllm"] == [
        "serve", MODEL, "--host", "0.0.0.0", "--port", "8000", "--enable-auto-tool-choice",
        "--tool-call-parser", "hermes", "--max-model-len", "32768", "--tensor-parallel-size", "2",
    ]
    log_args = args["log-server"]
    assert log_args[:3] == ["log-server", "--port", "8002"]
    served = dict(spec.split("=", 1) for spec in log_args[4::2])
    assert served == {name: f"{logs}/{name}.log" for name in
                      ("vllm", "slurmctld", "slurmd", "gpu-exporter", "slurm-exporter", "munged", "start")}
    # Secrets: the token only to the pod services (and vLLM, as VLLM_API_KEY); HF_TOKEN only to vLLM.
    assert envs["vllm"]["VLLM_API_KEY"] == TOKEN and envs["vllm"]["HF_TOKEN"] == HF_TOKEN
    for name in ("gpu-exporter", "slurm-exporter", "log-server"):
        assert envs[name]["GPUWATCH_POD_TOKEN"] == TOKEN and "HF_TOKEN" not in envs[name]
    for name, env in envs.items():
        assert MUNGE_KEY not in json.dumps(env), name
        if name in ("munged", "slurmctld", "slurmd"):
            assert TOKEN not in json.dumps(env) and HF_TOKEN not in json.dumps(env), name
    for name, argv in args.items():
        assert not any(secret in " ".join(argv) for secret in SECRETS), name
    assert pod.stop() == 0
    pod.no_stand_in_left()
    logged = pod.stderr + (pod.root / "log" / "start.log").read_text()
    assert "started slurmctld" in logged and "stopping (signal)" in logged
    written = [logged, *(p.read_text() for p in (pod.root / "etc" / "slurm").iterdir())]
    assert not any(secret in text for secret in SECRETS for text in written)


def test_worker_joins_the_head_configless(pod: Pod) -> None:
    pod.start(**worker_env())
    pod.read_stderr_until("pod ready")
    started = pod.collect({"munged": 1, "slurmd": 1, "log-server": 1, "gpu-exporter": 1})
    assert started["slurmd"][0]["argv"] == ["-D", "-N", "worker-2", "--conf-server", "h3adp0d.runpod.internal:6817"]
    assert started["gpu-exporter"][0]["argv"][-2:] == ["--hostname", "worker-2"]
    served = {spec.split("=", 1)[0] for spec in started["log-server"][0]["argv"][4::2]}
    assert served == {"slurmd", "gpu-exporter", "munged", "start"}
    assert (pod.root / "etc" / "munge" / "munge.key").read_text() == MUNGE_KEY
    assert not (pod.root / "etc" / "slurm" / "slurm.conf").exists()  # it comes from slurmctld
    assert pod.stop() == 0
    assert set(pod.records) == {"munged", "slurmd", "log-server", "gpu-exporter"}


def test_without_model_name_the_head_runs_no_vllm(pod: Pod) -> None:
    pod.start(**head_env(MODEL_NAME="", TOOL_CALL_PARSER=""))
    pod.read_stderr_until("pod ready")
    pod.collect(dict.fromkeys(HEAD_SERVICES - {"vllm"}, 1))
    assert pod.stop() == 0
    assert "vllm" not in pod.records


def test_a_core_service_that_dies_stops_the_pod(pod: Pod) -> None:
    pod.start(**head_env(STANDIN_EXIT_SLURMD="3"))
    assert pod.finish() == 1
    assert "error: slurmd exited with status 3; stopping the pod" in pod.stderr
    pod.collect({"munged": 1, "slurmctld": 1, "slurmd": 1})
    pod.no_stand_in_left()  # the others were stopped, not left behind


def test_an_exporter_that_dies_is_restarted_a_few_times(pod: Pod) -> None:
    pod.start(**worker_env(STANDIN_EXIT_GPU_EXPORTER="1", GPUWATCH_MAX_RESTARTS="2", GPUWATCH_RESTART_DELAY_S="0"))
    pod.read_stderr_until("gpu-exporter exited with status 1 3 times; not restarted again")
    assert len(pod.collect({"gpu-exporter": 3})["gpu-exporter"]) == 3
    assert pod.proc is not None and pod.proc.poll() is None  # the pod keeps running without it
    assert pod.stop() == 0


def test_vllm_that_dies_is_left_stopped_and_the_pod_runs_on(pod: Pod) -> None:
    pod.start(**head_env(STANDIN_EXIT_VLLM="1"))
    pod.read_stderr_until("vllm exited with status 1; left stopped")
    assert pod.proc is not None and pod.proc.poll() is None
    assert pod.stop() == 0
    assert len(pod.collect({"vllm": 1})["vllm"]) == 1
    assert "restarting" not in pod.stderr


@pytest.mark.parametrize(
    ("env", "errors"),
    [
        ({}, ["GPUWATCH_ROLE must be 'head' or 'worker'", "GPUWATCH_POD_TOKEN is missing",
              "GPUWATCH_MUNGE_KEY is missing"]),
        (worker_env(GPUWATCH_HEAD_HOST="", GPUWATCH_WORKER_INDEX="4"),
         ["GPUWATCH_HEAD_HOST is missing", "GPUWATCH_WORKER_INDEX must be a number from 1 to GPUWATCH_WORKERS"]),
        (head_env(GPUWATCH_MUNGE_KEY="short-key", GPUWATCH_WORKERS="two"),
         ["GPUWATCH_MUNGE_KEY must have at least 32 characters", "GPUWATCH_WORKERS must be a whole number"]),
        (head_env(TOOL_CALL_PARSER="", MAX_MODEL_LEN="lots"),
         ["TOOL_CALL_PARSER is missing", "MAX_MODEL_LEN must be a whole number"]),
        (head_env(GPUWATCH_CLUSTER="bad name\nClusterName=x", GPUWATCH_ROLE="controller"),
         ["GPUWATCH_ROLE must be 'head' or 'worker'", "GPUWATCH_CLUSTER must be a name"]),
    ],
)
def test_missing_or_bad_variables_are_each_named_and_nothing_starts(
    pod: Pod, env: dict[str, str], errors: list[str]
) -> None:
    pod.start(**env)
    assert pod.finish() == 1
    problems = [line for line in pod.stderr.splitlines() if line.startswith("start.sh: error: ")]
    assert len(problems) == len(errors) and all(e in p for e, p in zip(errors, problems, strict=True)), pod.stderr
    assert not any(secret in pod.stderr for secret in (*SECRETS, "short-key"))
    assert pod.records == {} and not (pod.root / "etc").exists()
    ready, _, _ = select.select([pod.sock], [], [], 0)
    assert not ready  # no stand-in was started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def slurm(pod: Pod, *argv: str) -> str:
    env = {**pod.base_env, "SLURM_CONF": f"{pod.root}/etc/slurm/slurm.conf"}
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=90, check=True).stdout


def test_the_generated_configuration_runs_a_real_slurm(pod: Pod) -> None:
    """Real munged, slurmctld and slurmd (Debian's slurm-wlm) with what start.sh wrote: a job runs on the head."""
    missing = [d for d in ("munged", "slurmctld", "slurmd", "srun") if not shutil.which(d, path="/usr/sbin:/usr/bin")]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} missing: apt-get install slurm-wlm munge")
        pytest.skip(f"{', '.join(missing)} not installed")
    if os.geteuid() != 0:
        pytest.skip("slurmd launches jobs only as root")
    for name in ("munged", "slurmctld", "slurmd"):
        (pod.bindir / name).unlink()  # the real daemons from /usr/sbin
    pod.base_env.update(PATH=f"{pod.bindir}:/usr/sbin:/usr/bin:/sbin:/bin", STANDIN_GPUS="0")
    pod.start(**head_env(
        GPUWATCH_WORKERS="1", GPUWATCH_GPUS_PER_NODE="0", GPUWATCH_CPUS_PER_NODE="1", GPUWATCH_HEAD_HOST="127.0.0.1",
        GPUWATCH_SLURMCTLD_PORT=str(free_port()), GPUWATCH_SLURMD_PORT=str(free_port()), MODEL_NAME="",
    ))
    said = pod.read_stderr_until("pod ready")
    # srun waits until the head's slurmd has registered, then runs the job there.
    assert slurm(pod, "srun", "-N1", "-w", "head", "--time=1", "echo", "ran-on-head").strip() == "ran-on-head"
    nodes = dict(line.split() for line in slurm(pod, "sinfo", "-N", "-h", "-o", "%N %t").splitlines())
    assert nodes["head"] in ("idle", "comp")  # "comp" while the job just run is being cleaned up
    assert nodes["worker-1"] == "idle~"  # a cloud node that has not registered yet ("~": powered down)
    pids = [int(p) for p in re.findall(r"started (?:munged|slurmctld|slurmd) \(pid (\d+)", said)]
    assert len(pids) == 3
    assert pod.stop() == 0
    assert not any(Path(f"/proc/{pid}").exists() and not _is_zombie(pid) for pid in pids)
