module.exports = { ...require('../../jest.preset.cjs'), displayName: 'codec', rootDir: __dirname };
