module.exports = {
  ...require('../../jest.preset.cjs'),
  displayName: 'learner',
  rootDir: __dirname,
};
