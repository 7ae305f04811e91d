// Command handling: read the stream, fold it, decide, append with the expected revision.
// Commands on one stream run one after another in this process (a busy org does not thrash on
// conflicts); a bounded retry covers conflicts with other instances. A command answers once
// the local read models include its events (read-your-writes). Events are appended with every
// secret-shaped string a client put in them redacted (R27): this is the one choke point.

import { randomUUID } from 'node:crypto';
import { WrongExpectedRevisionError } from '../eventstore/errors.js';
import type { EventStore, JsonValue, Position } from '../eventstore/port.js';
import { decodeEvent, type Recorded } from '../eventstore/recorded.js';
import type { KeyledgerEvent } from '../domain/events.js';
import { eventMetadata, type Actor } from '../domain/actor.js';
import { DomainError } from '../domain/errors.js';
import { redactSecretsIn } from '../platform/redact.js';

export interface DomainEvent {
  readonly type: string;
  readonly data: { readonly [key: string]: unknown };
}

export interface Aggregate<State, Event extends DomainEvent, Command> {
  /** Streams are `{category}-{id}`. */
  readonly category: string;
  /** Its events, among the domain's: what its streams hold. */
  owns(event: Recorded<KeyledgerEvent>): event is Extract<Recorded<KeyledgerEvent>, Event>;
  readonly initial: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State, actor: Actor): Event[];
}

export interface CommandResult<Event> {
  readonly events: readonly Event[];
  /** Position of the last appended event; null when the command decided nothing. */
  readonly position: Position | null;
}

/** Waits until the read models include a position (the projection runner's `waitFor`). */
export type ReadYourWrites = (position: Position) => Promise<void>;

interface Folded<State> {
  state: State;
  /** Revision of the last folded event; -1n for a stream not yet written. */
  revision: bigint;
}

const MAX_ATTEMPTS = 5;
const CACHED_STREAMS = 10_000;

export class CommandHandler {
  readonly #store: EventStore;
  readonly #readYourWrites: ReadYourWrites;
  readonly #now: () => Date;
  readonly #queues = new Map<string, Promise<unknown>>();
  /** Folded state per stream, so a command reads only the events appended since. */
  readonly #cache = new Map<string, Folded<unknown>>();

  constructor(options: { store: EventStore; readYourWrites: ReadYourWrites; now?: () => Date }) {
    this.#store = options.store;
    this.#readYourWrites = options.readYourWrites;
    this.#now = options.now ?? (() => new Date());
  }

  execute<State, Event extends DomainEvent, Command>(
    aggregate: Aggregate<State, Event, Command>,
    id: string,
    command: Command,
    actor: Actor,
    requestId: string = randomUUID(),
  ): Promise<CommandResult<Event>> {
    const stream = `${aggregate.category}-${id}`;
    const previous = this.#queues.get(stream) ?? Promise.resolve();
    const run = previous.then(
      () => this.#attempt(aggregate, stream, command, actor, requestId),
      () => this.#attempt(aggregate, stream, command, actor, requestId),
    );
    const settled = run.catch(() => undefined);
    this.#queues.set(stream, settled);
    void settled.then(() => {
      if (this.#queues.get(stream) === settled) this.#queues.delete(stream);
    });
    return run;
  }

  async #attempt<State, Event extends DomainEvent, Command>(
    aggregate: Aggregate<State, Event, Command>,
    stream: string,
    command: Command,
    actor: Actor,
    requestId: string,
  ): Promise<CommandResult<Event>> {
    for (let attempt = 1; ; attempt++) {
      const folded = await this.#fold(aggregate, stream);
      // A secret-shaped string a client put in a name, an email or an origin is stored redacted,
      // and folded as stored (digests are hex: they never look like a secret).
      const events = aggregate.decide(command, folded.state, actor).map((event) => redactSecretsIn(event));
      if (events.length === 0) return { events, position: null };
      const metadata = redactSecretsIn(eventMetadata(actor, requestId, this.#now()));
      try {
        const result = await this.#store.append(
          stream,
          events.map((event) => ({ id: randomUUID(), type: event.type, data: event.data as JsonValue, metadata })),
          { expectedRevision: folded.revision < 0n ? 'no_stream' : folded.revision },
        );
        let state = folded.state;
        for (const event of events) state = aggregate.evolve(state, event);
        this.#remember(stream, { state, revision: result.nextRevision });
        await this.#readYourWrites(result.position);
        return { events, position: result.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        // Another instance wrote first: decide again on what it wrote.
        this.#cache.delete(stream);
        if (attempt >= MAX_ATTEMPTS) throw new DomainError('CONFLICT', 'too many concurrent changes to the same object; try again');
      }
    }
  }

  async #fold<State, Event extends DomainEvent, Command>(aggregate: Aggregate<State, Event, Command>, stream: string): Promise<Folded<State>> {
    const cached = this.#cache.get(stream) as Folded<State> | undefined;
    let state = cached?.state ?? aggregate.initial;
    let revision = cached?.revision ?? -1n;
    const events = await this.#store.readStream(stream, { fromRevision: revision + 1n });
    for (const recorded of events) {
      const event = decodeEvent(recorded);
      if (event === null || !aggregate.owns(event)) throw new Error(`stream ${stream} holds ${recorded.type}, which is not an event of its aggregate`);
      state = aggregate.evolve(state, event);
      revision = recorded.revision;
    }
    if (events.length > 0 || cached === undefined) this.#remember(stream, { state, revision });
    return { state, revision };
  }

  #remember(stream: string, folded: Folded<unknown>): void {
    this.#cache.delete(stream);
    this.#cache.set(stream, folded);
    if (this.#cache.size > CACHED_STREAMS) {
      const oldest = this.#cache.keys().next().value;
      if (oldest !== undefined) this.#cache.delete(oldest);
    }
  }
}
