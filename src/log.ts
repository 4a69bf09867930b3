import pino from 'pino';
import { config } from './config.js';

/** One structured logger (JSON lines on stderr). CDM_LOG_LEVEL: trace..fatal, or silent. */
export const log = pino(
  { name: 'cdm', level: config().CDM_LOG_LEVEL ?? (config().NODE_ENV === 'test' ? 'warn' : 'info') },
  pino.destination(2),
);
