/**
 * Every `SPARQ_*` variable of `env`, sorted by name: what `open()` hands native code (runtime/
 * backend.h BackendOptions::env) and what a benchmark's results record of how the run was set up.
 */
export function sparqVariables(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(env).sort()) {
    const value = env[key];
    if (key.startsWith('SPARQ_') && value !== undefined) out[key] = value;
  }
  return out;
}
