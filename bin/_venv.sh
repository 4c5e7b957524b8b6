# Sourced by bin/pixee-etl and bin/test: create or reuse .venv with this project installed.
# Reinstalls only when pyproject.toml changes, so the second call costs nothing.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
stamp="$venv/.installed-$(sha256sum "$root/pyproject.toml" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  py=""
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      py="$candidate"; break
    fi
  done
  if [ -z "$py" ]; then
    echo "pixee-etl: needs Python 3.11 or newer on PATH" >&2; exit 2
  fi
  echo "pixee-etl: setting up $venv (first run only, about a minute)" >&2
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -e "$root[dev]" >&2
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
