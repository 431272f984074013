/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  // One worker: the addon's contexts own thread pools sized to the host; parallel jest workers
  // would oversubscribe the 2-core CI box and skew the sim deadlock timeouts.
  maxWorkers: 1,
  testTimeout: 120000,
};
