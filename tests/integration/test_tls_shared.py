"""The shared TLS context (config/tls.py): one verifying context the Slurm, log and RunPod clients share; it keeps
httpx's checks and honours SSL_CERT_FILE like httpx's own default. Against a real HTTPS server on loopback."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest

from gpuwatch_desktop.config.tls import shared_ssl_context
from gpuwatch_desktop.core.errors import GpuwatchError
from gpuwatch_desktop.provisioning.runpod_api import RunPodClient
from gpuwatch_desktop.sources.pod_logs import PodLogClient
from gpuwatch_desktop.sources.slurm import SlurmClient
from tests.integration.notify_servers import make_tls_files
from tests.integration.test_http_transport import Loopback, answer, response


def test_one_verifying_context_for_each_trust_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    default = shared_ssl_context()
    assert shared_ssl_context() is default
    assert default.verify_mode is ssl.CERT_REQUIRED and default.check_hostname
    monkeypatch.setenv("SSL_CERT_FILE", str(make_tls_files(tmp_path).cert))
    own = shared_ssl_context()
    assert own is not default and own is shared_ssl_context()
    assert own.verify_mode is ssl.CERT_REQUIRED and own.check_hostname


async def _failure(call: object) -> str:
    assert asyncio.iscoroutine(call)
    with pytest.raises(GpuwatchError) as failure:
        await call
    return str(failure.value)


def test_the_clients_refuse_an_unknown_certificate_and_trust_ssl_cert_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    tls = make_tls_files(tmp_path)
    busy = response(b"busy\n", b"503 Service Unavailable")

    async def attempt(url: str) -> list[str]:
        slurm, logs = SlurmClient(url, timeout_s=5.0), PodLogClient(url, timeout_s=5.0)
        runpod = RunPodClient("test-key", url=url, timeout_s=5.0)
        try:
            return [await _failure(slurm.nodes()), await _failure(logs.list()), await _failure(runpod.pods())]
        finally:
            for client in (slurm, logs, runpod):
                await client.aclose()

    async def scenario() -> tuple[list[str], list[str]]:
        async with Loopback(lambda w, c, r: answer(w, busy)).running(tls.server_context()) as server:
            untrusted = await attempt(server.url)
            monkeypatch.setenv("SSL_CERT_FILE", str(tls.cert))
            return untrusted, await attempt(server.url)

    untrusted, trusted = asyncio.run(scenario())
    assert all("CERTIFICATE_VERIFY_FAILED" in reason for reason in untrusted), untrusted
    assert all("503" in reason for reason in trusted), trusted
