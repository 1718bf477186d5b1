module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'e2e',
  rootDir: __dirname,
  // Whole clusters of processes: one test file at a time, generous timeouts.
  maxWorkers: 1,
  testTimeout: 120_000,
};
