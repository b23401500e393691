"""``serve`` over HTTPS: the real receiver behind uvicorn's TLS, with a test CA made at test
time (trustme), and the bad TLS inputs refused in one line, exit 2, before the server starts."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest
import trustme

from incidentbook.receiver.app import create_app
from incidentbook.receiver.server import load_tls
from incidentbook.services import Services
from tests.support.cli import Cli
from tests.support.payloads import am_alert, am_payload
from tests.support.receiver import AM, AUTH, TOKEN, LiveServer, tls_files


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


def test_receiver_over_https_accepts_alertmanager_verified_against_the_ca(
    services: Services, ca: trustme.CA, tmp_path: Path
) -> None:
    files = tls_files(ca, tmp_path)
    tls = load_tls(files.cert, files.key)
    assert tls == files
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    app = create_app(services, token=TOKEN)
    with LiveServer(app, tls=tls) as live:
        assert live.url.startswith("https://127.0.0.1:")
        trusting = ssl.create_default_context(cafile=str(ca_file))
        with httpx.Client(base_url=live.url, verify=trusting, timeout=10) as client:
            response = client.post(AM, json=am_payload(am_alert("tls1")), headers=AUTH)
            assert response.status_code == 200, response.text
            assert (response.json()["status"], response.json()["new"]) == ("success", 1)
        # Not trusted without the CA: the certificate really is the test CA's.
        with httpx.Client(base_url=live.url, timeout=10) as untrusting, pytest.raises(
            httpx.ConnectError
        ):
            untrusting.post(AM, json=am_payload(), headers=AUTH)
    assert [e.type for e in services.alerts.history("tls1")] == ["alert.fired"]


def _one_line_error(cli: Cli, *args: str) -> str:
    result = cli("serve", "--no-auth", "--listen", "127.0.0.1:0", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("incidentbook: error: ")
    return lines[0]


def test_tls_cert_without_key_and_the_reverse_are_exit_2(
    cli: Cli, ca: trustme.CA, tmp_path: Path
) -> None:
    files = tls_files(ca, tmp_path)
    assert "--tls-cert needs --tls-key" in _one_line_error(cli, "--tls-cert", str(files.cert))
    assert "--tls-key needs --tls-cert" in _one_line_error(cli, "--tls-key", str(files.key))


def test_missing_tls_file_is_exit_2(cli: Cli, ca: trustme.CA, tmp_path: Path) -> None:
    files = tls_files(ca, tmp_path)
    missing = tmp_path / "nope.pem"
    line = _one_line_error(cli, "--tls-cert", str(missing), "--tls-key", str(files.key))
    assert f"TLS certificate {str(missing)!r} cannot be read" in line
    line = _one_line_error(cli, "--tls-cert", str(files.cert), "--tls-key", str(missing))
    assert f"TLS key {str(missing)!r} cannot be read" in line


def test_key_that_does_not_match_the_certificate_is_exit_2(
    cli: Cli, ca: trustme.CA, tmp_path: Path
) -> None:
    mine, other = tls_files(ca, tmp_path, "mine"), tls_files(ca, tmp_path, "other")
    line = _one_line_error(cli, "--tls-cert", str(mine.cert), "--tls-key", str(other.key))
    assert f"TLS key {str(other.key)!r} does not fit certificate {str(mine.cert)!r}" in line
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    line = _one_line_error(cli, "--tls-cert", str(garbage), "--tls-key", str(mine.key))
    assert "are not a PEM certificate and its key" in line


def test_tls_files_come_from_the_config_relative_to_the_workspace(
    cli: Cli, workspace: Path
) -> None:
    config = workspace / "incidentbook.toml"
    text = config.read_text()
    assert "[server]\n" in text
    config.write_text(
        text.replace("[server]\n", '[server]\ntls_cert = "certs/missing.pem"\ntls_key = "k"\n', 1)
    )
    line = _one_line_error(cli)
    assert f"{str(workspace / 'certs' / 'missing.pem')!r} cannot be read" in line
