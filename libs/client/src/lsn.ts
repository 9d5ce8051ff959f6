const LSN = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/**
 * A `pg_lsn` text (`16/B374D848`) as a number that orders like the WAL position. Throws on
 * anything else; callers only pass LSNs the protocol schema already checked.
 */
export function lsnValue(lsn: string): bigint {
  const match = LSN.exec(lsn);
  if (match === null) throw new TypeError(`not an LSN: ${JSON.stringify(lsn.slice(0, 40))}`);
  const [, high = '0', low = '0'] = match;
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}
