// Command handling: read the stream, fold it, decide, append with the expected revision.
// Commands on one stream wait in one lane in this process (a busy org does not thrash on
// conflicts), and those that wait together are decided in turn and appended at once (group
// commit); a bounded retry covers conflicts with other instances. A command answers once the
// local read models include its events (read-your-writes), without holding up the lane. Events are appended with every
// secret-shaped string a client put in them redacted (R27): this is the one choke point.

import { randomUUID } from 'node:crypto';
import { WrongExpectedRevisionError } from '../eventstore/errors.js';
import type { EventStore, JsonValue, NewEvent, Position } from '../eventstore/port.js';
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

interface Waiting<Event, Command> {
  readonly command: Command;
  readonly actor: Actor;
  readonly requestId: string;
  resolve(result: CommandResult<Event>): void;
  reject(error: unknown): void;
}

interface Lane<State, Event extends DomainEvent, Command> {
  readonly aggregate: Aggregate<State, Event, Command>;
  readonly waiting: Waiting<Event, Command>[];
  draining: boolean;
}

type Outcome<Event> = { readonly events: readonly Event[] } | { readonly error: unknown };

/** Commands of one stream decided together and appended at once, at most. */
const MAX_BATCH = 64;
const MAX_ATTEMPTS = 10;
/** The longest pause after a first conflict with another instance (times the attempt's number). */
const CONFLICT_PAUSE_MS = 5;
const CACHED_STREAMS = 10_000;

export class CommandHandler {
  readonly #store: EventStore;
  readonly #readYourWrites: ReadYourWrites;
  readonly #now: () => Date;
  /** Per stream, the commands waiting for their turn (Lane<State, Event, Command> of the stream's aggregate). */
  readonly #lanes = new Map<string, unknown>();
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
    return new Promise<CommandResult<Event>>((resolve, reject) => {
      // One lane per stream, and a stream belongs to one aggregate (its category): the lane's types are this call's.
      let lane = this.#lanes.get(stream) as Lane<State, Event, Command> | undefined;
      if (lane === undefined) {
        lane = { aggregate, waiting: [], draining: false };
        this.#lanes.set(stream, lane);
      }
      lane.waiting.push({ command, actor, requestId, resolve, reject });
      if (!lane.draining) void this.#drain(stream, lane);
    });
  }

  /**
   * Runs the lane's commands, batch after batch: every command that arrived while the previous
   * batch was being appended is decided in turn, each on the state its predecessors left, and
   * their events go to the store in one append (group commit). The lane moves on as soon as the
   * append is done; each command's answer waits for the read models (read-your-writes) apart.
   */
  async #drain<State, Event extends DomainEvent, Command>(stream: string, lane: Lane<State, Event, Command>): Promise<void> {
    lane.draining = true;
    try {
      while (lane.waiting.length > 0) {
        const batch = lane.waiting.splice(0, MAX_BATCH);
        try {
          const { outcomes, position } = await this.#appendBatch(lane.aggregate, stream, batch);
          const settle = () => {
            for (const [i, entry] of batch.entries()) {
              const outcome = outcomes[i]!;
              if ('error' in outcome) entry.reject(outcome.error);
              else entry.resolve({ events: outcome.events, position: outcome.events.length === 0 ? null : position });
            }
          };
          if (position === null) settle();
          else
            this.#readYourWrites(position).then(settle, (error: unknown) => {
              // The events are stored; the commands that decided nothing, or were refused, answer as they would have.
              for (const [i, entry] of batch.entries()) {
                const outcome = outcomes[i]!;
                if ('error' in outcome) entry.reject(outcome.error);
                else if (outcome.events.length === 0) entry.resolve({ events: outcome.events, position: null });
                else entry.reject(error);
              }
            });
        } catch (error) {
          for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      lane.draining = false;
      if (this.#lanes.get(stream) === lane) this.#lanes.delete(stream);
    }
  }

  /**
   * Decides every command of the batch on the stream's state and appends all their events with
   * the expected revision. A refusal counts only once the append it was decided beside has
   * succeeded (it may have been decided on a sibling's events); on a conflict with another
   * instance, the whole batch is decided again on what that instance wrote.
   */
  async #appendBatch<State, Event extends DomainEvent, Command>(
    aggregate: Aggregate<State, Event, Command>,
    stream: string,
    batch: readonly Waiting<Event, Command>[],
  ): Promise<{ outcomes: Outcome<Event>[]; position: Position | null }> {
    for (let attempt = 1; ; attempt++) {
      // The first attempt trusts the cached fold (the common case: this process is the stream's only writer); a conflict reads.
      const folded = await this.#fold(aggregate, stream, attempt === 1);
      let state = folded.state;
      const outcomes: Outcome<Event>[] = [];
      const appended: NewEvent[] = [];
      for (const entry of batch) {
        try {
          // A secret-shaped string a client put in a name, an email or an origin is stored redacted,
          // and folded as stored (digests are hex: they never look like a secret).
          const events = aggregate.decide(entry.command, state, entry.actor).map((event) => redactSecretsIn(event));
          for (const event of events) state = aggregate.evolve(state, event);
          const metadata = redactSecretsIn(eventMetadata(entry.actor, entry.requestId, this.#now()));
          for (const event of events) appended.push({ id: randomUUID(), type: event.type, data: event.data as JsonValue, metadata });
          outcomes.push({ events });
        } catch (error) {
          outcomes.push({ error });
        }
      }
      if (appended.length === 0) return { outcomes, position: null };
      try {
        const result = await this.#store.append(stream, appended, { expectedRevision: folded.revision < 0n ? 'no_stream' : folded.revision });
        this.#remember(stream, { state, revision: result.nextRevision });
        return { outcomes, position: result.position };
      } catch (error) {
        if (!(error instanceof WrongExpectedRevisionError)) throw error;
        // Another instance wrote first: decide again on what it wrote, after a short random pause
        // so that instances racing for one stream fall out of step.
        this.#cache.delete(stream);
        if (attempt >= MAX_ATTEMPTS) throw new DomainError('CONFLICT', 'too many concurrent changes to the same object; try again');
        await new Promise((resolve) => setTimeout(resolve, Math.random() * CONFLICT_PAUSE_MS * attempt));
      }
    }
  }

  /** The stream's state: the cached fold, brought up to date from the store unless `trustCache` and there is one. */
  async #fold<State, Event extends DomainEvent, Command>(aggregate: Aggregate<State, Event, Command>, stream: string, trustCache: boolean): Promise<Folded<State>> {
    const cached = this.#cache.get(stream) as Folded<State> | undefined;
    if (trustCache && cached !== undefined) return cached;
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
