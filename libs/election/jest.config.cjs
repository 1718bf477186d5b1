module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'election',
  rootDir: __dirname,
};
