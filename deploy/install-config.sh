#!/bin/sh
# meson install step: the example configuration becomes the configuration only where there
# is none yet; an operator's file is never overwritten. $1 the example, $2 the target (both
# absolute, under $DESTDIR when meson install --destdir is used).
set -eu
src="${DESTDIR:-}$1"
dst="${DESTDIR:-}$2"
if [ -e "$dst" ]; then
	echo "install-config: $2 exists, kept (the example is $1)"
	exit 0
fi
mkdir -p "$(dirname "$dst")"
cp "$src" "$dst"
chmod 0640 "$dst"
