module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'deploy',
  rootDir: __dirname,
  // Real nats-server, redis-server and kubectl processes: one file at a time.
  maxWorkers: 1,
  testTimeout: 120_000,
};
