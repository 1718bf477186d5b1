module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'transport-nats',
  rootDir: __dirname,
  // Every test talks to real nats-server processes; a restart waits for the client to reconnect.
  testTimeout: 20000,
};
