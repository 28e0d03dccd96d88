/**
 * The write targets (appendMessage and create at 1 024 in flight, at least half the `Map`'s throughput)
 * measured in alternating runs.
 *
 * The main pass runs each variant in turn, its workloads minutes apart from the `Map`'s. On this shared
 * 2-core machine, seven full runs of one day gave the append ratio 0.62, 0.60, 0.60, 0.58, 0.51, 0.45
 * (the `Map`'s appends at 683 000/s where other runs saw 546 000-605 000) and 0.41 (a slow spell in which
 * every engine figure fell): a ratio of two figures taken at different times carries the machine's drift.
 * Here the engine and the `Map` are each prefilled once in a process of their own and then take turns,
 * one run each (engine, Map, Map, engine, ...), so that both sides of each ratio see the same machine.
 * Each pair gives a ratio; the figure is the median of the pairs' ratios.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { measureTask, median, warmUp } from './measure.js';
import type { SessionApi } from './subject.js';
import type { Variant } from './variants.js';
import { maxOpsFor, operationFor, prefill, THROUGHPUT_IN_FLIGHT, type Plan, type WorkloadName } from './workloads.js';

/** The workloads whose targets are measured in pairs. */
export const PAIRED_WORKLOADS = ['append', 'create'] as const satisfies readonly WorkloadName[];

/** One workload's alternating runs. */
export interface PairedFigure {
  workload: (typeof PAIRED_WORKLOADS)[number];
  subject: string;
  baseline: string;
  /** ops/s of the subject's runs, in order. */
  subjectRuns: number[];
  /** ops/s of the baseline's runs, in order; run i of each side forms pair i. */
  baselineRuns: number[];
  /** subjectRuns[i] / baselineRuns[i]. */
  ratios: number[];
  /** The median of `ratios`. */
  ratio: number;
}

/** What the parent asks of a serving child. */
type Command = { workload: WorkloadName; warmUp: boolean } | { close: true };
/** What a serving child answers. */
type Answer = { ready: true } | { opsPerSec: number };

/** Sessions a serving variant must hold: the prefill and every create run (warm-up included) at its cap. */
function maxSessionsFor(plan: Plan): number {
  return plan.sessions + (plan.runs + 1) * plan.createMaxOps;
}

/**
 * The child's side: starts and prefills `variant`, answers `{ ready }`, then runs one workload per
 * command and answers its ops/s, until told to close.
 */
export async function serveRuns(variant: Variant, plan: Plan): Promise<void> {
  const api: SessionApi = await variant.start(maxSessionsFor(plan));
  const ids = await prefill(api, plan.sessions, plan.messagesPerSession);
  const answer = (message: Answer): Promise<void> => new Promise((resolve) => process.send!(message, () => resolve()));
  // The parent sends a command only after the answer to the previous one: they never overlap.
  process.on('message', (message) => {
    const command = message as Command;
    void (async () => {
      if ('close' in command) {
        await api.close();
        process.exit(0);
      }
      const op = operationFor(command.workload, api, { ids, longIds: [], historyIds: [], agent: null });
      let k = 0;
      const task = () => op(k++);
      if (command.warmUp) {
        await warmUp(task, THROUGHPUT_IN_FLIGHT, plan.warmupMs, maxOpsFor(plan, command.workload));
        await answer({ opsPerSec: 0 });
        return;
      }
      const run = await measureTask(`${variant.id} ${command.workload}`, task, THROUGHPUT_IN_FLIGHT, {
        maxMs: plan.runMaxMs,
        maxOps: maxOpsFor(plan, command.workload),
      });
      await answer({ opsPerSec: run.opsPerSec });
    })();
  });
  await answer({ ready: true });
}

/** The parent's handle on a serving child. */
class ServedVariant {
  private waiting: { resolve(answer: Answer): void; reject(error: Error): void } | null = null;
  private exited: Error | null = null;

  private constructor(
    readonly id: string,
    private readonly child: ChildProcess,
  ) {
    child.on('message', (answer) => {
      const waiting = this.waiting;
      this.waiting = null;
      waiting?.resolve(answer as Answer);
    });
    child.on('exit', (code) => {
      this.exited = new Error(`${id}: serving child exited with code ${code}`);
      this.waiting?.reject(this.exited);
      this.waiting = null;
    });
  }

  /** Forks `script --serve id ...childArgs` and waits until its variant is prefilled. */
  static async start(script: string, id: string, childArgs: string[]): Promise<ServedVariant> {
    const child = fork(script, ['--serve', id, ...childArgs], { stdio: ['ignore', 2, 2, 'ipc'] });
    const served = new ServedVariant(id, child);
    await served.next();
    child.kill('SIGSTOP');
    return served;
  }

  /**
   * One run of `workload`; resolves its ops/s. The child is stopped (SIGSTOP) between its runs: an idle
   * process still finishes its collections on background threads, and the engine, which keeps both cores
   * busy, lost a fifth of its appends to such a neighbour (250 000/s against 308 000/s in the main pass of
   * the same run) where the single-threaded Map had a core to spare for it.
   */
  async run(workload: WorkloadName, warmUp: boolean): Promise<number> {
    const answer = this.next();
    this.child.kill('SIGCONT');
    this.child.send({ workload, warmUp } satisfies Command);
    const { opsPerSec } = (await answer) as { opsPerSec: number };
    this.child.kill('SIGSTOP');
    return opsPerSec;
  }

  /** Ends the child at once, stopped or not (what a dying parent does: see `killedOnExit`). */
  kill(): void {
    this.child.kill('SIGKILL');
  }

  /** Closes the variant and waits for the child to exit. */
  async close(): Promise<void> {
    if (this.exited !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.kill('SIGCONT');
    this.child.send({ close: true } satisfies Command);
    await exited;
  }

  private next(): Promise<Answer> {
    if (this.exited !== null) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
    });
  }
}

/**
 * Kills the children of `served` if this process ends first (an exception, Ctrl-C, SIGTERM): stopped
 * between runs, they would stay stopped for good, holding their sessions' memory. Returns the release.
 */
function killedOnExit(served: ServedVariant[]): () => void {
  const kill = (): void => {
    for (const child of served) child.kill();
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    release();
    kill();
    process.kill(process.pid, signal);
  };
  const release = (): void => {
    process.off('exit', kill);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  process.on('exit', kill);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return release;
}

/**
 * Runs `PAIRED_WORKLOADS` on `subject` and `baseline` in turns: per workload a warm-up run of each, then
 * as many pairs as the main pass has runs, the side that goes first alternating from pair to pair (a
 * trend within the phase then favours neither side). Runs have the main pass's caps, so that sessions
 * grow by as much: nine pairs grew sessions from 10 to ~37 messages, where every log merges its pieces
 * into an 8 KiB one at about the same time (see the README's Performance), and took the engine's appends
 * from ~400 000/s in the first pair to ~170 000/s in the last. `script` is the bench entry that serves a
 * variant given `--serve id`.
 */
export async function runPaired(
  script: string,
  childArgs: string[],
  subject: Variant,
  baseline: Variant,
  plan: Plan,
  say: (message: string) => void,
): Promise<PairedFigure[]> {
  // One after the other: two prefills at once would share the cores.
  say(`[paired] prefilling ${subject.label} and ${baseline.label}, each in its own process`);
  const served: ServedVariant[] = [];
  const release = killedOnExit(served);
  try {
    const a = await ServedVariant.start(script, subject.id, childArgs);
    served.push(a);
    const b = await ServedVariant.start(script, baseline.id, childArgs);
    served.push(b);
    const figures: PairedFigure[] = [];
    for (const workload of PAIRED_WORKLOADS) {
      await a.run(workload, true);
      await b.run(workload, true);
      const subjectRuns: number[] = [];
      const baselineRuns: number[] = [];
      for (let pair = 0; pair < plan.runs; pair++) {
        if (pair % 2 === 0) {
          subjectRuns.push(await a.run(workload, false));
          baselineRuns.push(await b.run(workload, false));
        } else {
          baselineRuns.push(await b.run(workload, false));
          subjectRuns.push(await a.run(workload, false));
        }
      }
      const ratios = subjectRuns.map((ops, pair) => ops / baselineRuns[pair]!);
      const figure: PairedFigure = { workload, subject: subject.id, baseline: baseline.id, subjectRuns, baselineRuns, ratios, ratio: median(ratios) };
      figures.push(figure);
      say(`[paired] ${workload}: ${ratios.map((r) => r.toFixed(2)).join(' ')} (median ${figure.ratio.toFixed(2)}x)`);
    }
    return figures;
  } finally {
    for (const child of served) await child.close();
    release();
  }
}
