"""A real OpenID Connect provider on 127.0.0.1 for the sign-in tests: PyPI ``oidc-provider-mock``
(authorization code flow, discovery, signed ID tokens), started and stopped by the test.

Its authorize page has one button per predefined person (named by ``sub``); the claims given
here (``email``, ``groups``) are what the dashboard reads from ``st.user``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tests.local_server import free_port, stopping, wait_until_up


@contextmanager
def oidc_provider(people: Sequence[dict], *, timeout_s: float = 30) -> Iterator[str]:
    """Run the provider with ``people`` (claims, each with ``sub``) until the block ends.

    :yields: its issuer URL (``http://127.0.0.1:PORT``); discovery is at
        ``/.well-known/openid-configuration`` under it.
    """
    port = free_port()
    args = [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--host", "127.0.0.1",
            "--port", str(port)]
    for claims in people:
        args += ["--user-claims", json.dumps(claims)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    issuer = f"http://127.0.0.1:{port}"
    with stopping(proc):
        wait_until_up(f"{issuer}/.well-known/openid-configuration", proc, timeout_s,
                      "oidc-provider-mock")
        yield issuer
