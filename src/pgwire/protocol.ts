import { BufferReader } from 'pg-protocol/dist/buffer-reader.js';
import { Writer } from 'pg-protocol/dist/buffer-writer.js';

/**
 * PostgreSQL v3 message encoding for what pg-gateway leaves to the application (everything after
 * startup): frontend messages of the extended protocol and the backend messages answering them.
 * https://www.postgresql.org/docs/current/protocol-message-formats.html
 */

/** Type OIDs we produce (pg_type.oid). */
export const Oid = { bool: 16, int8: 20, int2: 21, int4: 23, text: 25, float4: 700, float8: 701, numeric: 1700, varchar: 1043, unknown: 705 } as const;

export interface Field {
  name: string;
  oid: number;
}
export type Cell = string | null;

export interface PgError {
  code: string;
  message: string;
  detail?: string;
  hint?: string;
  severity?: 'ERROR' | 'FATAL';
}

export type Frontend =
  | { kind: 'query'; sql: string }
  | { kind: 'parse'; name: string; sql: string; paramTypes: number[] }
  | { kind: 'bind'; portal: string; statement: string; paramFormats: number[]; params: (Buffer | null)[]; resultFormats: number[] }
  | { kind: 'describe'; target: 'S' | 'P'; name: string }
  | { kind: 'execute'; portal: string; maxRows: number }
  | { kind: 'close'; target: 'S' | 'P'; name: string }
  | { kind: 'sync' }
  | { kind: 'flush' }
  | { kind: 'password'; password: string }
  | { kind: 'terminate' }
  | { kind: 'other'; code: string };

/** Decodes one whole frontend message (type byte, length, body). */
export function readFrontend(data: Uint8Array): Frontend {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const r = new BufferReader();
  r.setBuffer(5, buf);
  const code = String.fromCharCode(buf[0]!);
  switch (code) {
    case 'Q':
      return { kind: 'query', sql: r.cstring() };
    case 'P': {
      const name = r.cstring();
      const sql = r.cstring();
      const n = r.int16();
      const paramTypes = Array.from({ length: n }, () => r.int32() >>> 0);
      return { kind: 'parse', name, sql, paramTypes };
    }
    case 'B': {
      const portal = r.cstring();
      const statement = r.cstring();
      const paramFormats = Array.from({ length: r.int16() }, () => r.int16());
      const params = Array.from({ length: r.int16() }, () => {
        const len = r.int32();
        return len < 0 ? null : r.bytes(len);
      });
      const resultFormats = Array.from({ length: r.int16() }, () => r.int16());
      return { kind: 'bind', portal, statement, paramFormats, params, resultFormats };
    }
    case 'D':
      return { kind: 'describe', target: r.string(1) === 'S' ? 'S' : 'P', name: r.cstring() };
    case 'E':
      return { kind: 'execute', portal: r.cstring(), maxRows: r.int32() };
    case 'C':
      return { kind: 'close', target: r.string(1) === 'S' ? 'S' : 'P', name: r.cstring() };
    case 'S':
      return { kind: 'sync' };
    case 'H':
      return { kind: 'flush' };
    case 'p':
      return { kind: 'password', password: r.cstring() };
    case 'X':
      return { kind: 'terminate' };
    default:
      return { kind: 'other', code };
  }
}

const w = new Writer();
const msg = (code: string) => w.flush(code.charCodeAt(0));

export const parseComplete = () => msg('1');
export const bindComplete = () => msg('2');
export const closeComplete = () => msg('3');
export const noData = () => msg('n');
export const emptyQuery = () => msg('I');
export const portalSuspended = () => msg('s');
export const authOk = () => (w.addInt32(0), msg('R'));
export const authCleartext = () => (w.addInt32(3), msg('R'));
export const readyForQuery = (status: 'I' | 'T' | 'E' = 'I') => (w.addString(status), msg('Z'));
export const commandComplete = (tag: string) => (w.addCString(tag), msg('C'));
export const parameterStatus = (name: string, value: string) => (w.addCString(name).addCString(value), msg('S'));
export const backendKeyData = (pid: number, key: number) => (w.addInt32(pid).addInt32(key), msg('K'));

export function parameterDescription(oids: number[]): Buffer {
  w.addInt16(oids.length);
  for (const o of oids) w.addInt32(o);
  return msg('t');
}

export function rowDescription(fields: Field[], formats: number[] = []): Buffer {
  w.addInt16(fields.length);
  fields.forEach((f, i) => {
    w.addCString(f.name).addInt32(0).addInt16(0).addInt32(f.oid).addInt16(typeLength(f.oid)).addInt32(-1).addInt16(formatOf(formats, i));
  });
  return msg('T');
}

export function dataRow(cells: Cell[], fields: Field[], formats: number[] = []): Buffer {
  w.addInt16(cells.length);
  cells.forEach((c, i) => {
    if (c === null) return void w.addInt32(-1);
    const bytes = formatOf(formats, i) === 1 ? toBinary(c, fields[i]!.oid) : Buffer.from(c, 'utf8');
    w.addInt32(bytes.length).add(bytes);
  });
  return msg('D');
}

export function errorResponse(e: PgError): Buffer {
  const sev = e.severity ?? 'ERROR';
  w.addString('S').addCString(sev).addString('V').addCString(sev).addString('C').addCString(e.code).addString('M').addCString(e.message);
  if (e.detail) w.addString('D').addCString(e.detail);
  if (e.hint) w.addString('H').addCString(e.hint);
  w.addCString('');
  return msg('E');
}

export function noticeResponse(message: string): Buffer {
  w.addString('S').addCString('NOTICE').addString('V').addCString('NOTICE').addString('C').addCString('00000').addString('M').addCString(message).addCString('');
  return msg('N');
}

/** Result format of column i: one code for all, one per column, or none (text). */
export function formatOf(formats: number[], i: number): number {
  if (formats.length === 0) return 0;
  return formats.length === 1 ? formats[0]! : (formats[i] ?? 0);
}

/** Types we can send in binary; any other column is sent as text whatever the client asked. */
export const BINARY_TYPES: ReadonlySet<number> = new Set([Oid.bool, Oid.int2, Oid.int4, Oid.int8, Oid.float4, Oid.float8, Oid.text, Oid.varchar]);

function typeLength(oid: number): number {
  return ({ [Oid.bool]: 1, [Oid.int2]: 2, [Oid.int4]: 4, [Oid.int8]: 8, [Oid.float4]: 4, [Oid.float8]: 8 } as Record<number, number>)[oid] ?? -1;
}

function toBinary(text: string, oid: number): Buffer {
  const b = Buffer.alloc(typeLength(oid) > 0 ? typeLength(oid) : 0);
  switch (oid) {
    case Oid.bool:
      b.writeUInt8(text === 't' || text === 'true' ? 1 : 0);
      return b;
    case Oid.int2:
      b.writeInt16BE(Number(text));
      return b;
    case Oid.int4:
      b.writeInt32BE(Number(text));
      return b;
    case Oid.int8:
      b.writeBigInt64BE(BigInt(text));
      return b;
    case Oid.float4:
      b.writeFloatBE(Number(text));
      return b;
    case Oid.float8:
      b.writeDoubleBE(Number(text));
      return b;
    default:
      return Buffer.from(text, 'utf8');
  }
}

/** A bound parameter as text (binary parameters of the basic types decoded). */
export function paramText(value: Buffer | null, format: number, oid: number): string | null {
  if (value === null) return null;
  if (format !== 1) return value.toString('utf8');
  switch (oid) {
    case Oid.bool:
      return value.readUInt8(0) ? 't' : 'f';
    case Oid.int2:
      return String(value.readInt16BE(0));
    case Oid.int4:
      return String(value.readInt32BE(0));
    case Oid.int8:
      return String(value.readBigInt64BE(0));
    case Oid.float4:
      return String(value.readFloatBE(0));
    case Oid.float8:
      return String(value.readDoubleBE(0));
    default:
      return value.toString('utf8');
  }
}
