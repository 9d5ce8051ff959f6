import type { ResolvedTable } from '@pg-static-cache/postgres';

/**
 * Which registered caches an event names, by table OID or `schema.name`. Only ever answers with
 * caches given to {@link add}: a message can name anything, but can only select among these.
 */
export class CacheIndex<C> {
  // Maps, not objects: names from Redis such as `__proto__` must be plain keys, not prototype hooks.
  readonly #byOid = new Map<number, C[]>();
  readonly #byName = new Map<string, C[]>();

  /** Registers a cache under its table and every partition or inheritance child of it. */
  add(cache: C, table: ResolvedTable): void {
    for (const member of table.members) {
      push(this.#byOid, member.oid, cache);
      push(this.#byName, member.display, cache);
    }
    for (const oid of table.memberOids) push(this.#byOid, oid, cache);
  }

  /** Forgets every OID and name `cache` was registered under (its table was re-resolved). */
  remove(cache: C): void {
    for (const map of [this.#byOid, this.#byName] as Map<unknown, C[]>[]) {
      for (const [key, list] of map) {
        const left = list.filter((c) => c !== cache);
        if (left.length === 0) map.delete(key);
        else map.set(key, left);
      }
    }
  }

  /** Caches whose table (or one of its members) has this OID. */
  byOid(oid: number): readonly C[] {
    return this.#byOid.get(oid) ?? [];
  }

  /** Caches whose table (or one of its members) is listed, each once. */
  byNames(names: readonly string[]): readonly C[] {
    const found = new Set<C>();
    for (const name of names) for (const cache of this.#byName.get(name) ?? []) found.add(cache);
    return [...found];
  }
}

function push<K, C>(map: Map<K, C[]>, key: K, cache: C): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [cache]);
  else if (!list.includes(cache)) list.push(cache);
}
