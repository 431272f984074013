#!/usr/bin/env bash
# Prepares everything a GPU session's device check needs, on a CPU machine, so the lent minutes are
# spent only running: the addon + sim backend + libsparq_cuda.so for the H200 only (sm_90a: small and
# quick to build) in build-device/, the compiled TypeScript in dist/, and node packed into .devkit/.
# Prints what to carry and the one command to run there (docs/verification.md).
set -euo pipefail
cd "$(dirname "$0")/.."
archs="${CUDAARCHS:-90a-real}"
CUDAARCHS="$archs" npx cmake-js configure --out build-device --log-level warn --CDSPARQ_SIM=ON --CDSPARQ_CUDA=ON
npx cmake-js build --out build-device --parallel 2 --log-level warn
npm run build:ts --silent
bash ../shared/device/node-kit.sh >/dev/null
du -ch .devkit build-device/Release/*.node build-device/Release/*.so dist | tail -1
cat <<MSG
carry: [".devkit", "build-device/Release", "dist"]   (CUDA targets: $archs)
command (device tool, timeout_s 540):
  mkdir -p /tmp/nodebin && python3 -c "import lzma,shutil;shutil.copyfileobj(lzma.open('.devkit/node.xz'),open('/tmp/nodebin/node','wb'))" && chmod +x /tmp/nodebin/node && export PATH=/tmp/nodebin:\$PATH && SPARQ_ADDON_PATH=build-device/Release/sparq.node node dist/bench/deviceCheck.js --out \$OUT
MSG
