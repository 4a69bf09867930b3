import pino from 'pino';

/** One structured logger (JSON lines on stderr). CDM_LOG_LEVEL: trace..fatal, or silent. */
export const log = pino(
  { name: 'cdm', level: process.env.CDM_LOG_LEVEL ?? (process.env.NODE_ENV === 'test' ? 'warn' : 'info') },
  pino.destination(2),
);
