// One structured logger (pino) for the whole process. Nothing secret is ever passed to it:
// callers log ids and digests, never credentials.

import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = PinoLogger;

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  return options.destination ? pino({ level }, options.destination) : pino({ level });
}

/** A logger that writes nothing, for tests and tools that report through their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
