#!/usr/bin/env bash
# Runs the test suite against the oldest and the newest @grpc/grpc-js of the range we support (the
# peerDependencies of @grpc-alts/alts, from the registry), then puts node_modules back to what
# package-lock.json says. `npm test` already covers the locked version, so a bound equal to it is
# not run twice. Needs a built tree (npm run build) and the registry or a warm npm cache.
set -euo pipefail
cd "$(dirname "$0")/../.."

npm_quiet=(--no-save --prefer-offline --ignore-scripts --no-audit --no-fund --loglevel=error)
range=$(node -p "require('./packages/alts/package.json').peerDependencies['@grpc/grpc-js']")
locked=$(node -p "require('./package-lock.json').packages['node_modules/@grpc/grpc-js'].version")
# One version prints as a string, several as an array; pre-releases are outside a ~ range.
bounds=$(npm view "@grpc/grpc-js@$range" version --json | node -e '
  const byNumber = (a, b) => a.localeCompare(b, "en", { numeric: true });
  const all = [].concat(JSON.parse(require("node:fs").readFileSync(0, "utf8"))).sort(byNumber);
  console.log(all[0], all[all.length - 1]);')
read -r oldest newest <<<"$bounds"
echo "@grpc/grpc-js $range: oldest $oldest, newest $newest, locked $locked"

latest=$(npm view @grpc/grpc-js dist-tags.latest)
if [[ "$latest" != "$newest" ]]; then
  echo "note: @grpc/grpc-js $latest is out, outside $range: test it and widen the range" >&2
fi

hidden_lock() { sha256sum node_modules/.package-lock.json | cut -d' ' -f1; }
git_state() { git status --porcelain 2>/dev/null || true; }
lock_before=$(hidden_lock)
git_before=$(git_state)

installed() { node -p "require('@grpc/grpc-js/package.json').version"; }

restore() {
  npm install "${npm_quiet[@]}"
  if [[ "$(installed)" != "$locked" || "$(hidden_lock)" != "$lock_before" ]]; then
    echo "node_modules no longer matches package-lock.json (grpc-js $(installed)): run npm ci" >&2
    exit 1
  fi
  if [[ "$(git_state)" != "$git_before" ]]; then
    echo "the grpc-js range run changed the working tree:" >&2
    git status --porcelain >&2
    exit 1
  fi
}
trap 'status=$?; restore; exit "$status"' EXIT

for version in $(printf '%s\n' "$oldest" "$newest" | sort -u); do
  [[ "$version" == "$locked" ]] && continue
  echo "== @grpc/grpc-js $version"
  npm install "${npm_quiet[@]}" "@grpc/grpc-js@$version"
  copies=$(npm ls --parseable --all @grpc/grpc-js | sort -u | wc -l)
  if [[ "$(installed)" != "$version" || "$copies" != 1 ]]; then
    echo "expected one copy of @grpc/grpc-js $version, got $(installed) ($copies copies)" >&2
    exit 1
  fi
  node scripts/run-tests.mjs
done
