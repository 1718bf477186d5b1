module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'store-redis',
  rootDir: __dirname,
  // Every test talks to real redis-server processes: restarts and kill -9 take a few seconds.
  testTimeout: 30000,
};
