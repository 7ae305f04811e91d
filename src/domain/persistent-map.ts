// A persistent map: `set` answers a new version and leaves the one it was called on as it was,
// in O(1) and without copying. Folding a stream of n events into an aggregate's maps is then
// O(n), not O(n²) as copying a Map per event would be.
//
// The versions of one map share a single Map (Baker's trick, "rerooting"): the version last
// used holds it, every other version holds one difference from a neighbour towards it. Reading a
// version moves the Map to it, undoing or redoing the differences on the way, so reading the
// newest version (the common case: a fold, then a decision on its result) costs nothing more,
// and reading an older one costs the number of versions in between. Undoing in reverse order
// restores the Map exactly, iteration order (insertion order, as a Map's) included.
//
// Versions are values: any version may be read or extended at any time, and reads never change
// what a version holds. Iterate one version at a time: reading another version while iterating
// moves the shared Map under the iterator.

/** What a version holds: the shared Map (it is the current version), or one difference from `next`, a version closer to it. */
type Node<K, V> = { map: Map<K, V> } | { key: K; value: V | typeof ABSENT; next: Holder<K, V> };

interface Holder<K, V> {
  node: Node<K, V>;
}

const ABSENT: unique symbol = Symbol('absent');

function isRoot<K, V>(node: Node<K, V>): node is { map: Map<K, V> } {
  return 'map' in node;
}

export class PersistentMap<K, V> implements ReadonlyMap<K, V> {
  readonly #holder: Holder<K, V>;

  private constructor(holder: Holder<K, V>) {
    this.#holder = holder;
  }

  static empty<K, V>(): PersistentMap<K, V> {
    return new PersistentMap<K, V>({ node: { map: new Map() } });
  }

  /** This version's entries, made the shared Map's current contents. */
  #map(): Map<K, V> {
    const holder = this.#holder;
    if (isRoot(holder.node)) return holder.node.map;
    // The path from this version to the current one, walked without recursion (a path may be long).
    const path: Holder<K, V>[] = [];
    let at: Holder<K, V> = holder;
    while (!isRoot(at.node)) {
      path.push(at);
      at = at.node.next;
    }
    const map = at.node.map;
    // From the current version back to this one: apply each difference, and leave its inverse behind.
    for (let i = path.length - 1; i >= 0; i--) {
      const step = path[i]!;
      const diff = step.node as { key: K; value: V | typeof ABSENT; next: Holder<K, V> };
      const next = diff.next;
      const previous = map.has(diff.key) ? (map.get(diff.key) as V) : ABSENT;
      if (diff.value === ABSENT) map.delete(diff.key);
      else map.set(diff.key, diff.value);
      step.node = { map };
      next.node = { key: diff.key, value: previous, next: step };
    }
    return map;
  }

  /** A new version with `key` set to `value`; this one is unchanged. */
  set(key: K, value: V): PersistentMap<K, V> {
    const map = this.#map();
    const previous = map.has(key) ? (map.get(key) as V) : ABSENT;
    map.set(key, value);
    const next: Holder<K, V> = { node: { map } };
    this.#holder.node = { key, value: previous, next };
    return new PersistentMap(next);
  }

  get size(): number {
    return this.#map().size;
  }

  get(key: K): V | undefined {
    return this.#map().get(key);
  }

  has(key: K): boolean {
    return this.#map().has(key);
  }

  forEach(callback: (value: V, key: K, map: ReadonlyMap<K, V>) => void, thisArg?: unknown): void {
    for (const [key, value] of this.#map()) callback.call(thisArg, value, key, this);
  }

  entries(): MapIterator<[K, V]> {
    return this.#map().entries();
  }

  keys(): MapIterator<K> {
    return this.#map().keys();
  }

  values(): MapIterator<V> {
    return this.#map().values();
  }

  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.#map()[Symbol.iterator]();
  }
}

/** What a credential table needs of a credential to tell whether it holds its name (R3) and a slot (R2). */
interface Holdable {
  readonly id: string;
  readonly nameKey: string;
  readonly active: boolean;
  /** R18: rotated and in its grace (until revoked). */
  readonly rotation: object | null;
}

/** Whether a credential counts (R1, R2) and holds its name (R3): active, and not a rotated key in its grace (R18). */
export function holds(credential: Holdable): boolean {
  return credential.active && credential.rotation === null;
}

/**
 * An aggregate's credentials of one kind, persistent: by id, in the order they were created,
 * with how many hold each name and how many hold a slot kept as they change, so that a
 * decision checks a name (R3) or the limit (R2) without visiting every credential.
 */
export class CredentialTable<C extends Holdable> {
  readonly #byId: PersistentMap<string, C>;
  /** Name key → how many credentials holding their name have it. */
  readonly #names: PersistentMap<string, number>;
  /** How many credentials hold a slot. */
  readonly holding: number;

  private constructor(byId: PersistentMap<string, C>, names: PersistentMap<string, number>, holding: number) {
    this.#byId = byId;
    this.#names = names;
    this.holding = holding;
  }

  static empty<C extends Holdable>(): CredentialTable<C> {
    return new CredentialTable<C>(PersistentMap.empty(), PersistentMap.empty(), 0);
  }

  get(id: string): C | undefined {
    return this.#byId.get(id);
  }

  /** Every credential, in the order they were created. */
  values(): MapIterator<C> {
    return this.#byId.values();
  }

  /** A new table with `credential` in place of the one of its id (if any); this one is unchanged. */
  put(credential: C): CredentialTable<C> {
    const before = this.#byId.get(credential.id);
    let names = this.#names;
    let holding = this.holding;
    if (before !== undefined && holds(before)) {
      names = names.set(before.nameKey, (names.get(before.nameKey) ?? 1) - 1);
      holding--;
    }
    if (holds(credential)) {
      names = names.set(credential.nameKey, (names.get(credential.nameKey) ?? 0) + 1);
      holding++;
    }
    return new CredentialTable(this.#byId.set(credential.id, credential), names, holding);
  }

  /** R3: whether a credential holding its name, other than `except`, has this name key. */
  nameTaken(nameKey: string, except?: string): boolean {
    const holders = this.#names.get(nameKey) ?? 0;
    const exempt = except === undefined ? undefined : this.#byId.get(except);
    return holders - (exempt !== undefined && holds(exempt) && exempt.nameKey === nameKey ? 1 : 0) > 0;
  }
}
