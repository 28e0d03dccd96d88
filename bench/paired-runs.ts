/**
 * Targets measured in alternating runs: the write targets (appendMessage and create at 1 024 in flight, at
 * least half the `Map`'s throughput), and the agent turns (the engine's turn reading windows as JSON text
 * against the `structuredClone` `Map`'s turn, at 256 in flight).
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
import { AGENT_SESSION_MESSAGES, type AgentApi, AgentTurns } from './agent-turns.js';
import { measureTask, median, warmUp } from './measure.js';
import type { SessionApi } from './subject.js';
import type { Variant } from './variants.js';
import {
  AGENT_IN_FLIGHT,
  inFlightFor,
  maxOpsFor,
  operationFor,
  prefill,
  prefillStructured,
  type Plan,
  type WorkloadName,
  type WorkloadSessions,
} from './workloads.js';

/**
 * What a pairing measures: on `writes` sessions (the string workloads'), the subject's and the baseline's
 * runs of the same workload; on `agent` sessions, each side's own form of the turn.
 */
export interface Pairing {
  sessions: 'writes' | 'agent';
  /** [the subject's workload, the baseline's], one pair of runs per entry. */
  workloads: readonly (readonly [WorkloadName, WorkloadName])[];
}

/** The write targets' pairing: the engine's appends and creates against the `Map`'s. */
export const WRITE_PAIRING: Pairing = {
  sessions: 'writes',
  workloads: [
    ['append', 'append'],
    ['create', 'create'],
  ],
};

/** The agent-turn target's pairing: the engine's turn reading windows as JSON text against the `Map`'s turn. */
export const AGENT_PAIRING: Pairing = { sessions: 'agent', workloads: [['agent-turn-json', 'agent-turn']] };

/** The Redis agent-turn target's pairing: the engine on Redis and raw ioredis, both handing out objects. */
export const REDIS_AGENT_PAIRING: Pairing = { sessions: 'agent', workloads: [['agent-turn', 'agent-turn']] };

/** One workload's alternating runs. */
export interface PairedFigure {
  /** The subject's workload. */
  workload: WorkloadName;
  /** The baseline's workload, when it is another (the agent turns). */
  baselineWorkload?: WorkloadName;
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
function maxSessionsFor(plan: Plan, sessions: Pairing['sessions']): number {
  return sessions === 'agent' ? plan.agentSessions : plan.sessions + (plan.runs + 1) * plan.createMaxOps;
}

/** Prefills what a pairing runs on. */
async function prefillFor(api: SessionApi, plan: Plan, sessions: Pairing['sessions']): Promise<WorkloadSessions> {
  if (sessions === 'writes') return { ids: await prefill(api, plan.sessions, plan.messagesPerSession), longIds: [], historyIds: [], agent: null };
  const agentApi = api as SessionApi & AgentApi;
  const ids = await prefillStructured(agentApi, plan.agentSessions, AGENT_SESSION_MESSAGES, AGENT_IN_FLIGHT);
  return { ids: [], longIds: [], historyIds: [], agent: new AgentTurns(agentApi, ids) };
}

/**
 * The child's side: starts and prefills `variant` for `sessions`, answers `{ ready }`, then runs one
 * workload per command and answers its ops/s, until told to close.
 */
export async function serveRuns(variant: Variant, plan: Plan, sessions: Pairing['sessions']): Promise<void> {
  const api: SessionApi = await variant.start(maxSessionsFor(plan, sessions));
  const prefilled = await prefillFor(api, plan, sessions);
  const answer = (message: Answer): Promise<void> => new Promise((resolve) => process.send!(message, () => resolve()));
  // The parent sends a command only after the answer to the previous one: they never overlap.
  process.on('message', (message) => {
    const command = message as Command;
    void (async () => {
      if ('close' in command) {
        await api.close();
        process.exit(0);
      }
      const op = operationFor(command.workload, api, prefilled);
      let k = 0;
      const task = () => op(k++);
      const inFlight = inFlightFor(command.workload);
      if (command.warmUp) {
        await warmUp(task, inFlight, plan.warmupMs, maxOpsFor(plan, command.workload));
        await answer({ opsPerSec: 0 });
        return;
      }
      const run = await measureTask(`${variant.id} ${command.workload}`, task, inFlight, {
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

  /** Forks `script --serve id --serve-sessions sessions ...childArgs` and waits until its variant is prefilled. */
  static async start(script: string, id: string, sessions: Pairing['sessions'], childArgs: string[]): Promise<ServedVariant> {
    const child = fork(script, ['--serve', id, '--serve-sessions', sessions, ...childArgs], { stdio: ['ignore', 2, 2, 'ipc'] });
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
 * Runs `pairing` on `subject` and `baseline` in turns: per workload a warm-up run of each, then as many
 * pairs as the main pass has runs, the side that goes first alternating from pair to pair (a trend within
 * the phase then favours neither side). Runs have the main pass's caps, so that sessions grow by as much:
 * nine pairs grew sessions from 10 to ~37 messages, where every log merges its pieces into an 8 KiB one at
 * about the same time (see the README's Performance), and took the engine's appends from ~400 000/s in the
 * first pair to ~170 000/s in the last. `script` is the bench entry that serves a variant given `--serve id`.
 */
export async function runPaired(
  script: string,
  childArgs: string[],
  subject: Variant,
  baseline: Variant,
  plan: Plan,
  say: (message: string) => void,
  pairing: Pairing = WRITE_PAIRING,
): Promise<PairedFigure[]> {
  // One after the other: two prefills at once would share the cores.
  say(`[paired] prefilling ${subject.label} and ${baseline.label} (${pairing.sessions} sessions), each in its own process`);
  const served: ServedVariant[] = [];
  const release = killedOnExit(served);
  try {
    const a = await ServedVariant.start(script, subject.id, pairing.sessions, childArgs);
    served.push(a);
    const b = await ServedVariant.start(script, baseline.id, pairing.sessions, childArgs);
    served.push(b);
    const figures: PairedFigure[] = [];
    for (const [workload, baselineWorkload] of pairing.workloads) {
      await a.run(workload, true);
      await b.run(baselineWorkload, true);
      const subjectRuns: number[] = [];
      const baselineRuns: number[] = [];
      for (let pair = 0; pair < plan.runs; pair++) {
        if (pair % 2 === 0) {
          subjectRuns.push(await a.run(workload, false));
          baselineRuns.push(await b.run(baselineWorkload, false));
        } else {
          baselineRuns.push(await b.run(baselineWorkload, false));
          subjectRuns.push(await a.run(workload, false));
        }
      }
      const ratios = subjectRuns.map((ops, pair) => ops / baselineRuns[pair]!);
      const figure: PairedFigure = { workload, subject: subject.id, baseline: baseline.id, subjectRuns, baselineRuns, ratios, ratio: median(ratios) };
      if (baselineWorkload !== workload) figure.baselineWorkload = baselineWorkload;
      figures.push(figure);
      say(`[paired] ${workload}: ${ratios.map((r) => r.toFixed(2)).join(' ')} (median ${figure.ratio.toFixed(2)}x)`);
    }
    return figures;
  } finally {
    for (const child of served) await child.close();
    release();
  }
}
