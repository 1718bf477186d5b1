module.exports = { ...require('../../jest.preset.cjs'), displayName: 'sim', rootDir: __dirname };
