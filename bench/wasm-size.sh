#!/usr/bin/env bash
# What the browser downloads, gzip -9: the main WASM bundle and loaders (every first page),
# and what each lazily loaded page adds on its first visit (its chunks, from the manifest
# `cargo leptos build --release --split` writes).
#   cargo leptos build --release --split && bash bench/wasm-size.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../target/site/pkg"
python3 - <<'PY'
import gzip, json, os
gz = lambda f: len(gzip.compress(open(f, 'rb').read(), 9))
main = gz('keyport.wasm')
loaders = gz('keyport.js') + sum(gz(f) for f in os.listdir('.') if f.startswith('__wasm_split') and f.endswith('.js'))
print(f"main bundle: {os.path.getsize('keyport.wasm'):>9} B raw {main:>8} B gzip; loaders {loaders} B gzip")
manifest = json.load(open('__wasm_split_manifest.json'))
for name, chunks in sorted(manifest.items()):
    if name.startswith('__') and name.endswith(tuple('0123456789')):
        files = [c + '.wasm' for c in chunks if os.path.exists(c + '.wasm')]
        added = sum(gz(f) for f in files)
        page = name.strip('_').rsplit('_', 1)[0].removesuffix('_view')
        print(f"{page:>14}: +{added:>7} B gzip in {len(files):>3} chunks (first visit {main + added} B)")
PY
