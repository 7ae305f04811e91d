// One structured logger (pino) for the whole process. Callers log ids and digests, never
// credentials; and whatever a client sent that looks like a secret (in a message, an error, a
// stack, a field) is redacted in the serialised line itself, the one choke point every line
// passes through, child loggers included (R27).

import { pino, type LoggerOptions, type Logger as PinoLogger } from 'pino';
import { redactSecrets } from './redact.js';

export type Logger = PinoLogger;

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  const settings: LoggerOptions = { level: options.level ?? process.env.LOG_LEVEL ?? 'info', hooks: { streamWrite: redactSecrets } };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** A logger that writes nothing, for tests and tools that report through their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
