module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'proposer',
  rootDir: __dirname,
};
