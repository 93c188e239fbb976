"""Install the peers from PyPI into their own virtualenvs under bench/.peers/ (never into the project).

    octoprint:  pip install "OctoPrint>=1.11,<1.12"
    printcore:  pip install --no-deps Printrun pyserial

Idempotent: a venv whose package already imports is left alone. Usage:
    python bench/peers/install.py [octoprint|printcore ...]
Prints each venv's python path and installed version.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PEERS_DIR = ROOT / "bench" / ".peers"

PEERS = {
    "octoprint": {
        "pip": ["OctoPrint>=1.11,<1.12"],
        "check": "import octoprint, importlib.metadata as m; print(m.version('OctoPrint'))",
    },
    "printcore": {
        "pip": ["--no-deps", "Printrun", "pyserial"],
        "check": "import printrun.printcore, importlib.metadata as m; print(m.version('Printrun'))",
    },
}


def venv_python(name: str) -> Path:
    return PEERS_DIR / name / "bin" / "python"


def installed_version(name: str) -> str | None:
    python = venv_python(name)
    if not python.exists():
        return None
    result = subprocess.run([str(python), "-c", PEERS[name]["check"]], capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def ensure(name: str, log=print) -> tuple[Path, str]:
    """Create the venv and pip install the peer if needed; returns (python, version)."""
    version = installed_version(name)
    if version:
        return venv_python(name), version
    PEERS_DIR.mkdir(parents=True, exist_ok=True)
    target = PEERS_DIR / name
    # The base interpreter, not the project venv: the peer venv must not see the project's packages.
    base = getattr(sys, "_base_executable", sys.executable)
    log(f"installing {name} into {target} ...")
    subprocess.run([base, "-m", "venv", "--clear", str(target)], check=True)
    pip = [str(venv_python(name)), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["--upgrade", "pip", "wheel", "setuptools"], check=True)
    subprocess.run(pip + PEERS[name]["pip"], check=True)
    version = installed_version(name)
    if not version:
        raise RuntimeError(f"{name} installed but does not import")
    return venv_python(name), version


def main() -> int:
    for name in sys.argv[1:] or list(PEERS):
        python, version = ensure(name)
        print(f"{name} {version}: {python}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
