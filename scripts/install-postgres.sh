#!/usr/bin/env bash
# Installs the PostgreSQL 15 server binaries into .tools/postgres from
# Debian's packages, without installing them into the system or starting the
# system's postgres service: the SQL catalog tests start a throwaway server
# of their own on loopback (jobs/dataset/datasettest). The packages are
# downloaded with apt-get download and unpacked with dpkg -x, with the
# libraries the server needs that the machine lacks; the tests put the
# unpacked library folder on LD_LIBRARY_PATH. Quick when already installed.
set -euo pipefail

MAJOR=15
root=$(cd "$(dirname "$0")/.." && pwd)
dest="$root/.tools/postgres"
bin="$dest/usr/lib/postgresql/$MAJOR/bin"
stamp="$dest/.installed-$MAJOR"

if [ -x "$bin/postgres" ] && [ -x "$bin/initdb" ] && [ -f "$stamp" ]; then
  exit 0
fi
echo "installing PostgreSQL $MAJOR server binaries into $dest (Debian packages)" >&2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt-get download writes into the current folder; as root it hands the
# download to the _apt user, who must be able to write there.
chmod 0777 "$work"
cd "$work"

fetch() {
  if ! apt-get download "$@" >/dev/null 2>"$work/apt.err"; then
    # An old or missing package list: refresh it once, then try again.
    apt-get update >/dev/null 2>&1 || true
    apt-get download "$@" >/dev/null
  fi
}
fetch "postgresql-$MAJOR" "postgresql-client-$MAJOR" libpq5
rm -rf "$dest"
mkdir -p "$dest"
for deb in ./*.deb; do dpkg -x "$deb" "$dest"; done

# The libraries the server links that this machine does not have: each
# missing one is looked up among the packages (by its file name) and
# unpacked beside the server, until nothing is missing.
libdir="$dest/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)"
for _ in 1 2 3 4; do
  missing=$(LD_LIBRARY_PATH="$libdir" ldd "$bin/postgres" "$bin/initdb" "$bin/pg_ctl" 2>/dev/null |
    awk '/not found/ {print $1}' | sort -u)
  [ -z "$missing" ] && break
  pkgs=""
  for lib in $missing; do
    # libfoo.so.N -> the Debian package libfooN (the usual naming), or a
    # name apt-cache finds providing it.
    base=${lib%%.so*}
    ver=${lib##*.so.}
    for cand in "${base}${ver}" "${base}-${ver}" "$base"; do
      if apt-cache show "$cand" >/dev/null 2>&1; then pkgs="$pkgs $cand"; break; fi
    done
  done
  [ -z "$pkgs" ] && break
  rm -f ./*.deb
  fetch $pkgs
  for deb in ./*.deb; do dpkg -x "$deb" "$dest"; done
done
if LD_LIBRARY_PATH="$libdir" ldd "$bin/postgres" | grep -q "not found"; then
  echo "PostgreSQL's server still misses libraries:" >&2
  LD_LIBRARY_PATH="$libdir" ldd "$bin/postgres" | grep "not found" >&2
  exit 1
fi
# The server runs as an unprivileged user when the tests run as root: it
# must be able to read and run what is here.
chmod -R a+rX "$dest"
touch "$stamp"
