/**
 * Preloaded into a subgraph child process by the benchmark (`node --import .../memprobe.js`):
 * samples process.memoryUsage() every 20 ms, keeps the peaks, and answers the parent over the IPC
 * channel. "reset" also resets the kernel's peak-RSS counter (Linux: /proc/self/clear_refs = 5), so
 * VmHWM then measures the peak RSS from that moment on, including while the event loop is blocked;
 * "reset" and "final" first run a full garbage collection when the process has --expose-gc.
 * It does nothing when the process has no IPC channel.
 */
import { readFileSync, writeFileSync } from 'node:fs';

type Mem = ReturnType<typeof process.memoryUsage>;
const KEYS = ['rss', 'heapTotal', 'heapUsed', 'external', 'arrayBuffers'] as const;

function statusBytes(field: string): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

if (typeof process.send === 'function') {
  let peak: Mem = process.memoryUsage();
  const sample = (): Mem => {
    const m = process.memoryUsage();
    for (const k of KEYS) if (m[k] > peak[k]) peak = { ...peak, [k]: m[k] };
    return m;
  };
  setInterval(sample, 20).unref();
  process.on('message', (msg: { cdmBench?: string; id?: number }) => {
    if (!msg || typeof msg.cdmBench !== 'string') return;
    // With --expose-gc: a full collection first, so "before" and "after" are live memory, not
    // garbage that happens not to have been collected yet.
    const gc = (globalThis as { gc?: () => void }).gc;
    if ((msg.cdmBench === 'reset' || msg.cdmBench === 'final') && gc) gc();
    if (msg.cdmBench === 'reset') {
      peak = process.memoryUsage();
      try {
        writeFileSync('/proc/self/clear_refs', '5');
      } catch {
        /* not Linux, or not allowed: VmHWM then counts from the start */
      }
    }
    const current = sample();
    process.send?.({ cdmBench: 'sample', id: msg.id, current, peak: { ...peak }, vmHwm: statusBytes('VmHWM'), vmRss: statusBytes('VmRSS') });
  });
  process.channel?.unref();
}
