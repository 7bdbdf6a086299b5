#!/usr/bin/env bash
# Installs moto (a local S3 + SQS server for the tests) into a virtualenv
# and prints the path of its `moto_server` on standard output.
#
#   tools/moto.sh            # installs once, then only prints the path
#
# The virtualenv lives at ${CTRULES_MOTO_VENV:-$HOME/.cache/ctrules-moto}
# and holds exactly tools/moto-requirements.txt (every version pinned); it
# is rebuilt when that file changes. Safe to run from several processes at
# once: the first installs under a lock, the others wait and reuse it.
# Needs python3 with its venv module, and PyPI (or PIP_INDEX_URL) the
# first time. Progress and errors go to standard error.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
requirements="$here/moto-requirements.txt"
venv="${CTRULES_MOTO_VENV:-$HOME/.cache/ctrules-moto}"
python="${PYTHON:-python3}"
# Written last, as a copy of the requirements the virtualenv was built from:
# a missing or different stamp means an absent, stale or half-done install.
stamp="$venv/ctrules-requirements.txt"

mkdir -p "$(dirname "$venv")"
exec 9>>"$venv.lock"
flock 9

if [[ -x "$venv/bin/moto_server" ]] && cmp -s "$requirements" "$stamp"; then
    echo "$venv/bin/moto_server"
    exit 0
fi

echo "tools/moto.sh: installing moto into $venv (once)" >&2
start=$SECONDS
rm -rf "$venv"
if ! "$python" -m venv "$venv" >&2; then
    echo "tools/moto.sh: '$python -m venv' failed: install Python 3 with its venv module (Debian: python3-venv)" >&2
    rm -rf "$venv"
    exit 1
fi
if ! "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2; then
    echo "tools/moto.sh: pip install -r $requirements failed" >&2
    rm -rf "$venv"
    exit 1
fi
cp "$requirements" "$stamp"
echo "tools/moto.sh: installed in $((SECONDS - start)) s" >&2
echo "$venv/bin/moto_server"
