#!/bin/sh
# Copies the built asciinema-player bundle from node_modules into assets/, where the server's
# rust-embed picks it up. The copies are committed so `cargo build` needs no Node.js; run this
# after `npm ci` (the lock file pins the version) when the player is upgraded.
set -eu
cd "$(dirname "$0")"
src=node_modules/asciinema-player
if [ ! -d "$src/dist/bundle" ]; then
    echo "vendor.sh: $src is missing; run 'npm ci' in web/ first" >&2
    exit 1
fi
cp "$src/dist/bundle/asciinema-player.min.js" assets/asciinema-player.min.js
cp "$src/dist/bundle/asciinema-player.css" assets/asciinema-player.css
version=$(node -p "require('./$src/package.json').version")
echo "vendored asciinema-player $version into web/assets/"
