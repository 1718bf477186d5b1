module.exports = { ...require('../../jest.preset.cjs'), displayName: 'local', rootDir: __dirname };
