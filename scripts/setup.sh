# Shared set-up for scripts/run-demo and scripts/test (sourced, not run). On a fresh Debian/Ubuntu
# machine it installs what is missing: Debian packages through apt-get when running as root
# (otherwise one line saying what to install, and exit 1), then the virtualenv .venv with pip.

# have_command CMD - an executable CMD on PATH or in the sbin directories (bash's `command -v`
# also reports files that are not executable).
have_command() {
  local path
  path=$(command -v "$1" 2>/dev/null) && [ -x "$path" ] && return 0
  [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]
}

# need_debian_packages CMD:PACKAGE ... - install the packages whose command is missing.
need_debian_packages() {
  local missing="" pair cmd pkg
  for pair in "$@"; do
    cmd=${pair%%:*}
    pkg=${pair#*:}
    if ! have_command "$cmd"; then
      case " $missing " in *" $pkg "*) ;; *) missing="$missing $pkg" ;; esac
    fi
  done
  [ -z "$missing" ] && return 0
  install_debian_packages $missing
}

# install_debian_packages PACKAGE ... - apt-get install as root, else one clear line and exit 1.
install_debian_packages() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "$(basename "$0"): missing system packages:$(printf ' %s' "$@"); install them (Debian/Ubuntu: sudo apt-get install -y$(printf ' %s' "$@")) or run this script as root." >&2
    exit 1
  fi
  echo "Installing with apt-get:$(printf ' %s' "$@")"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

# ensure_venv EXTRAS IMPORTS - .venv with the package installed (pip install -e ".[EXTRAS]").
ensure_venv() {
  local extras=$1 imports=$2 py=${PYTHON:-python3}
  if [ ! -x .venv/bin/python ]; then
    have_command "$py" || install_debian_packages python3
    if ! "$py" -m venv .venv >/dev/null 2>&1; then
      rm -rf .venv  # Debian/Ubuntu ship venv's pip bootstrap in a separate package
      install_debian_packages python3-venv
      "$py" -m venv .venv
    fi
  fi
  if ! .venv/bin/python -c "import $imports" 2>/dev/null || [ pyproject.toml -nt .venv/.installed ]; then
    echo "Installing mqttprint${extras:+[$extras]} and its Python dependencies into .venv (pip)"
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
    touch .venv/.installed
  fi
}
