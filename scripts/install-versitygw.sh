#!/usr/bin/env bash
# Installs Versity's S3 gateway (versitygw) into .tools/bin from the Go module
# proxy. The dataset tests start it with its posix backend as a real
# S3-compatible server on loopback. Building it takes a few minutes, so the
# script does nothing when the pinned version is already there.
set -euo pipefail

VERSION=v1.8.0
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/.tools/bin"
stamp="$bin/.versitygw-$VERSION"

if [ -x "$bin/versitygw" ] && [ -f "$stamp" ]; then
  exit 0
fi
mkdir -p "$bin"
echo "installing versitygw $VERSION into $bin (takes a few minutes)" >&2
# Outside the project's module, so its dependencies stay out of our go.mod.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
GOBIN="$bin" GOFLAGS=-mod=mod go install "github.com/versity/versitygw/cmd/versitygw@$VERSION"
rm -f "$bin"/.versitygw-*
touch "$stamp"
