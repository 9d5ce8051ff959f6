// ESM-only: require() of this package throws (require.cjs); its type says so to CommonJS code.
declare const esmOnly: never;
export = esmOnly;
