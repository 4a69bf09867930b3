import { readFileSync } from 'node:fs';
import { config } from '../config.js';

/**
 * Process lifecycle of `cdm start` and its subgraph children (issue 12): whatever stops the parent
 * stops every child, and no child outlives its parent.
 *
 * - Every catchable termination signal runs the same orderly shutdown (gateway, subgraphs, databases)
 *   with a hard deadline, so a stuck close never leaves a half-stopped process.
 * - SIGKILL cannot be caught, so children watch their parent instead: `cdm start` talks to each child
 *   over an IPC channel, and the kernel closes it when the parent dies for ANY reason, which node
 *   reports as 'disconnect'. A second, independent check polls the parent pid.
 * - `npm start` runs `cdm start` in npm's child process; `--exit-with-parent` makes it poll its own
 *   parent too, so killing npm (even with SIGKILL) still stops the mesh.
 */
export const TERMINATION_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGPIPE'];
const HARD_DEADLINE_MS = 15_000;

export interface Lifecycle {
  /** Sets what shutdown runs (until then, shutting down just exits: supervised children follow). */
  onStop(stop: () => Promise<void>): void;
  stop(reason: string): Promise<void>;
}

export function lifecycle(opts: { watchParent: boolean; log: (line: string) => void }): Lifecycle {
  let stopFn: (() => Promise<void>) | undefined;
  let stopping: Promise<void> | undefined;
  const stop = (reason: string) => {
    stopping ??= (async () => {
      opts.log(`stopping (${reason})`);
      setTimeout(() => process.exit(1), HARD_DEADLINE_MS).unref();
      try {
        await stopFn?.();
      } catch (e) {
        opts.log(`error while stopping: ${(e as Error).message}`);
      }
      process.exit(0);
    })();
    return stopping;
  };
  for (const s of TERMINATION_SIGNALS) process.on(s, () => void stop(s));
  if (opts.watchParent) watchParent(() => void stop('parent process exited'));
  return { onStop: (fn) => (stopFn = fn), stop };
}

function watchParent(onDeath: () => void) {
  if (process.send) process.once('disconnect', onDeath);
  const ppid = process.ppid;
  // npm runs scripts through `sh -c`, which may stay between npm and node: watch the shell's
  // parent too, or killing npm would orphan the shell and leave this process running.
  const shellParent = isShell(ppid) ? parentOf(ppid) : undefined;
  setInterval(() => {
    // Reparented (to init or a subreaper): the parent is gone.
    if (process.ppid !== ppid) onDeath();
    else if (shellParent !== undefined && parentOf(ppid) !== shellParent) onDeath();
  }, 500).unref();
}

/** Linux /proc/<pid>/stat: "pid (comm) state ppid ..."; undefined elsewhere or when gone. */
function stat(pid: number): { comm: string; ppid: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    return { comm: text.slice(text.indexOf('(') + 1, close), ppid: Number(text.slice(close + 2).split(' ')[1]) };
  } catch {
    return undefined;
  }
}
const parentOf = (pid: number) => stat(pid)?.ppid;
const isShell = (pid: number) => ['sh', 'dash', 'bash', 'zsh', 'ash'].includes(stat(pid)?.comm ?? '');

/** Tells a supervising parent (over IPC) that this process made progress or is ready. */
export function notifyParent(message: { type: 'progress' | 'ready' | 'failed'; [k: string]: unknown }): Promise<void> {
  return new Promise((resolve) => {
    if (config().CDM_SUPERVISED && process.send && process.connected) process.send(message, undefined, {}, () => resolve());
    else resolve();
  });
}
