// The scheduler: records what time brings, once per fleet. When a rotated key's grace ends it
// revokes the key (reason ROTATED, R18); when an application key passes its expiresAt it records
// ApplicationKeyExpired (R19). It is a duty of the projection lease's holder (LeaderDuty): started
// with the lease, stopped when it is lost.
//
// It finds due work in the credentials read model (two partial indexes of the rows still waiting:
// reading them costs what is due, not the table), on start (catching up after a restart or a
// failover), when its timer fires at the earliest due time, and whenever the credentials
// projection commits a rotation or a key that expires (`applied`), which may bring that time
// forward. Each act is an ordinary command by the system actor, decided against its stream with
// the expected revision: a key already revoked, or an expiry already recorded, decides nothing, so
// two attempts (a restart, two holders in turn) append one event.

import type { Kysely } from 'kysely';
import { dueWork, nextDueTime, type DueWork } from '../../projections/credentials/queries.js';
import type { CredentialsTables } from '../../projections/credentials/tables.js';
import type { KeyledgerEvent } from '../domain/events.js';
import type { Recorded } from '../eventstore/recorded.js';
import type { Clock, Timer } from '../platform/clock.js';
import type { Logger } from '../platform/logger.js';
import type { Keyledger } from './keyledger.js';

/** Due rows read at a time. */
const PAGE = 100;

export interface SchedulerOptions {
  readonly clock: Clock;
  readonly db: Kysely<CredentialsTables>;
  readonly keyledger: Pick<Keyledger, 'endRotationGrace' | 'recordExpiry'>;
  readonly logger: Logger;
  /** The longest wait between two looks at the read model, in the clock's time (default 60 s): a safety net, since `applied` says when new work lands. */
  readonly pollMs?: number;
  /** After a failure, or work the read model shows due but its stream does not (yet), look again after this long (default 1 s). */
  readonly retryMs?: number;
}

/** An event that brings new timed work: a rotation with a grace, or an application key that expires. */
function bringsTimedWork(event: KeyledgerEvent): boolean {
  return event.type === 'ApiKeyRotated' || event.type === 'ApplicationKeyRotated' || (event.type === 'ApplicationKeyCreated' && event.data.expiresAt !== null);
}

/** A LeaderDuty of the projection runner (projections/core/runner.ts), which this layer does not import: the gateway hands it over. */
export class Scheduler {
  readonly name = 'scheduler';
  /** Only the credentials' commits bring it timed work. */
  readonly projections = ['credentials'] as const;
  readonly #clock: Clock;
  readonly #db: Kysely<CredentialsTables>;
  readonly #keyledger: SchedulerOptions['keyledger'];
  readonly #logger: Logger;
  readonly #pollMs: number;
  readonly #retryMs: number;
  #running = false;
  #timer: Timer | undefined;
  /** The pass under way, if any; `#again` asks for another one after it. */
  #pass: Promise<void> | undefined;
  #again = false;

  constructor(options: SchedulerOptions) {
    this.#clock = options.clock;
    this.#db = options.db;
    this.#keyledger = options.keyledger;
    this.#logger = options.logger.child({ duty: 'scheduler' });
    this.#pollMs = options.pollMs ?? 60_000;
    this.#retryMs = options.retryMs ?? 1000;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#wake();
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#again = false;
    this.#timer?.cancel();
    this.#timer = undefined;
    await this.#pass;
  }

  applied(projection: string, events: readonly Recorded<KeyledgerEvent>[]): void {
    if (this.#running && projection === 'credentials' && events.some(bringsTimedWork)) this.#wake();
  }

  /** Settles once no pass is under way nor asked for: what the clock made due by now is recorded (or failed). */
  async idle(): Promise<void> {
    while (this.#pass) await this.#pass;
  }

  /** Runs a pass now, or right after the one under way. */
  #wake(): void {
    if (!this.#running) return;
    if (this.#pass) {
      this.#again = true;
      return;
    }
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#pass = this.#run().finally(() => {
      this.#pass = undefined;
      if (this.#again) {
        this.#again = false;
        this.#wake();
      }
    });
  }

  /** Does what is due, then sets the timer for the next due time (at the latest after `pollMs`). */
  async #run(): Promise<void> {
    let now = this.#clock.now();
    try {
      for (;;) {
        now = this.#clock.now();
        const due = await dueWork(this.#db, now, PAGE);
        if (due.length === 0) break;
        let recorded = 0;
        let failed = false;
        for (const work of due) {
          if (!this.#running) return;
          try {
            if (await this.#do(work)) recorded++;
          } catch (error) {
            failed = true;
            this.#logger.error({ err: error, work: work.work, credentialId: work.id }, 'the scheduler could not record what is due; it will try again');
          }
        }
        // What was done has left the due rows (read-your-writes): look again for the rest. When
        // something could not be done (the store away, the read model behind its streams): later.
        if (failed || recorded === 0) {
          this.#arm(new Date(now.getTime() + this.#retryMs));
          return;
        }
      }
      if (!this.#running) return;
      const next = await nextDueTime(this.#db);
      const poll = now.getTime() + this.#pollMs;
      this.#arm(new Date(next === null ? poll : Math.min(poll, Date.parse(next))));
    } catch (error) {
      this.#logger.error({ err: error }, 'the scheduler could not read what is due; it will try again');
      this.#arm(new Date(now.getTime() + this.#retryMs));
    }
  }

  #arm(at: Date): void {
    if (!this.#running) return;
    this.#timer?.cancel();
    this.#timer = this.#clock.setTimer(at, () => {
      this.#timer = undefined;
      this.#wake();
    });
  }

  async #do(work: DueWork): Promise<boolean> {
    const done = work.work === 'END_GRACE' ? await this.#endGrace(work) : await this.#keyledger.recordExpiry({ id: work.id, ownerId: work.ownerId });
    if (done) this.#logger.info({ work: work.work, credentialId: work.id, kind: work.kind, dueAt: work.dueAt }, 'recorded what time brought');
    return done;
  }

  #endGrace(work: DueWork): Promise<boolean> {
    const { kind, id, orgId, ownerId } = work;
    if (kind === 'API_KEY' || kind === 'APPLICATION_KEY') return this.#keyledger.endRotationGrace({ kind, id, orgId, ownerId });
    throw new Error(`credential ${id} (${kind}) is of a kind that is not rotated`);
  }
}
