"""The one TLS context the app's HTTPS clients share.

An ``httpx.AsyncClient`` made without ``verify=`` builds its own context and loads the CA bundle into it (~25 ms
each, on the thread that makes the client); the app makes one client per node and service. Passing
``verify=shared_ssl_context()`` loads the bundle once. An ``ssl.SSLContext`` may be shared by any number of
connections and threads.
"""

from __future__ import annotations

import functools
import os
import ssl

import httpx


def shared_ssl_context() -> ssl.SSLContext:
    """What httpx would make itself: verify certificates and host names against certifi's CA bundle, or against
    SSL_CERT_FILE / SSL_CERT_DIR when set. One context for each of those settings, made on first use."""
    return _context_for(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))


@functools.cache
def _context_for(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    return httpx.create_ssl_context()  # reads the same two variables
