// Lists the C++ sources of the CPU-only addon for binding.gyp (gyp has no glob): the binding, the
// runtime, the CPU kernels and the formats. No sim, no CUDA (those come from the cmake-js build).
const fs = require('fs');
const path = require('path');
const root = path.join(__dirname, '..');
const dirs = ['native/binding', 'native/runtime', 'native/cpu', 'native/formats'];
const files = [];
for (const d of dirs)
  for (const f of fs.readdirSync(path.join(root, d)).sort()) if (f.endsWith('.cc')) files.push(`${d}/${f}`);
process.stdout.write(files.join(' '));
