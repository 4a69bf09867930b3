import { notifyParent } from '../cli/lifecycle.js';
import { config } from '../config.js';

/** Progress of long work on stderr: a live line on a terminal, a line per 10% in logs. */
export function progress(label: string, total: number, stream: NodeJS.WriteStream = process.stderr) {
  const started = Date.now();
  let lastDecile = -1;
  let done = 0;
  let lastBeat = 0;
  const quiet = config().CDM_QUIET;
  return {
    add(n: number) {
      done += n;
      if (Date.now() - lastBeat > 1000) {
        lastBeat = Date.now();
        notifyParent({ type: 'progress', label, done, total });
      }
      if (quiet) return;
      const pct = total > 0 ? Math.min(100, Math.floor((done / total) * 100)) : 100;
      if (stream.isTTY) {
        stream.write(`\r${label}: ${pct}% (${done.toLocaleString('en')}/${total.toLocaleString('en')})`);
      } else if (Math.floor(pct / 10) > lastDecile) {
        lastDecile = Math.floor(pct / 10);
        stream.write(`${label}: ${pct}% (${done.toLocaleString('en')}/${total.toLocaleString('en')})\n`);
      }
    },
    finish() {
      if (quiet) return;
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      stream.write(`${stream.isTTY ? '\r' : ''}${label}: done, ${done.toLocaleString('en')} rows in ${secs}s\n`);
    },
  };
}
