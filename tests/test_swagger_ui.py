"""Swagger UI really renders: headless Chromium loads / and lists the operations."""
import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)")
def test_swagger_ui_lists_the_operations_in_a_real_browser(live_server, tmp_path):
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path}", "--virtual-time-budget=15000", "--dump-dom", f"{live_server}/"],
        capture_output=True, text=True, timeout=90,
    ).stdout
    # Swagger UI builds one "opblock" element per operation once it has read /swagger.json.
    assert "swagger-ui" in dom
    assert dom.count('class="opblock ') >= 3, dom[-2000:]
    for path in ("/health", "/jobs/{job_id}", "/metrics"):
        assert f'data-path="{path}"' in dom, path
