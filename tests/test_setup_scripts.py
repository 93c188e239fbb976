"""scripts/setup.sh (used by scripts/test and scripts/run-demo): a missing system tool means one
clear line and exit 1 when not root, never a wall of errors; nothing to do means no output."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run_setup(body: str) -> subprocess.CompletedProcess[str]:
    script = f'set -euo pipefail\ncd "{ROOT}"\n. scripts/setup.sh\n{body}\n'
    return subprocess.run(["bash", "-c", script, "scripts/test"], capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_missing_package_without_root_is_one_line_and_exit_1() -> None:
    result = run_setup("id() { echo 1000; }\nneed_debian_packages bash:bash no-such-tool-4711:mosquitto "
                       "other-missing-tool:mosquitto")
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert "missing system packages: mosquitto;" in lines[0]  # named once, bash is there
    assert "sudo apt-get install -y mosquitto" in lines[0]


def test_nothing_missing_is_silent() -> None:
    result = run_setup("need_debian_packages bash:bash git:git")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_non_executable_file_on_path_does_not_count(tmp_path: Path) -> None:
    """bash's `command -v` also reports a file without execute permission (a hidden binary)."""
    (tmp_path / "fake-tool-4711").write_text("")
    result = run_setup(f'PATH="{tmp_path}:$PATH"\nid() {{ echo 1000; }}\nneed_debian_packages fake-tool-4711:fakepkg')
    assert result.returncode == 1 and "fakepkg" in result.stderr
