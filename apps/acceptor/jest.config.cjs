module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'acceptor',
  rootDir: __dirname,
};
