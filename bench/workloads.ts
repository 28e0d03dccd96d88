/**
 * The workloads and their sizes: what is prefilled, which operations each workload issues, how many are
 * in flight, and how long each run lasts. Every run is capped by an operation count as well as a time, so
 * that appends and creates grow the store by a known, bounded amount whatever a variant's speed.
 */
import type { MessageInput, Role } from '../src/index.js';
import { AGENT_SESSION_MESSAGES, type AgentApi, type AgentTurns, historyMessages, LONG_HISTORY_MESSAGES, TURN_WINDOW } from './agent-turns.js';
import type { SessionApi } from './subject.js';

/** The sizes of a benchmark run. */
export interface Plan {
  mode: 'full' | 'quick' | 'scale';
  /** Sessions prefilled for the get / append / mixed workloads. */
  sessions: number;
  messagesPerSession: number;
  /** Sessions of `longMessages` messages, for whole get vs `lastMessages: 5`. */
  longSessions: number;
  longMessages: number;
  /** Agent sessions of `AGENT_SESSION_MESSAGES` structured messages, for the agent turns. */
  agentSessions: number;
  /** Sessions of `LONG_HISTORY_MESSAGES` structured messages, for whole reads against the newest 20. */
  longHistorySessions: number;
  /**
   * A throughput measurement lasts `runs` x `runMaxMs` (and `runs` x the operation cap): the length of the
   * runs whose median the hand-written core reported, now one tinybench run; the alternating runs of the
   * write targets are `runs` runs of one each.
   */
  runs: number;
  /** Caps of one throughput run of reads (1 024 in flight). */
  runMaxOps: number;
  /** Caps of a run that appends: appends grow sessions, so they get a cap that bounds memory. */
  appendMaxOps: number;
  runMaxMs: number;
  /** Caps of a create run: creates only add sessions, so they get a lower cap. */
  createMaxOps: number;
  /** Caps of one run of agent turns (each appends four messages of ~1.5 KB on average). */
  agentMaxTurns: number;
  /** Caps of the latency run (1 in flight). */
  latencyMaxOps: number;
  latencyMaxMs: number;
  /** Untimed warm-up before each workload, at 1 024 in flight. */
  warmupMs: number;
  /**
   * Untimed warm-up at 1 in flight before the latency run. Right after a burst at 1 024 in flight, one op at
   * a time is 2-5x slower for 0.3-0.7 s (the collections the burst left on both threads); the latency run
   * measures one op at a time, not that.
   */
  latencyWarmupMs: number;
  /** Which workloads run. */
  workloads: readonly WorkloadName[];
}

/**
 * The workloads, in the order they run (reads first: appends grow the sessions). The agent turns and the
 * long-history windows have sessions of their own, of structured messages.
 */
export const WORKLOAD_NAMES = [
  'get',
  'get-whole-100',
  'get-last5-100',
  'mixed',
  'append',
  'create',
  'window-whole-2000',
  'window-last20-2000',
  'agent-turn',
  'agent-turn-json',
] as const;

/** The workloads that need structured messages and history edits (`AgentApi`). */
export const AGENT_WORKLOADS: readonly WorkloadName[] = ['window-whole-2000', 'window-last20-2000', 'agent-turn', 'agent-turn-json'];

/** The agent turns, by the form they read the window in (`agent-turns.ts`). */
export const TURN_WORKLOADS: readonly WorkloadName[] = ['agent-turn', 'agent-turn-json'];

/** One workload's name. */
export type WorkloadName = (typeof WORKLOAD_NAMES)[number];

/** What each workload does, for the report. */
export const WORKLOAD_DESCRIPTIONS: Record<WorkloadName, string> = {
  get: 'get(id), whole session (prefilled sessions of 10 messages)',
  'get-whole-100': 'get(id), whole session of 100 messages',
  'get-last5-100': 'get(id, { lastMessages: 5 }) on the same 100-message sessions',
  mixed: '80% get(id) / 20% appendMessage(id), prefilled sessions',
  append: 'appendMessage(id, ~200-byte message), prefilled sessions',
  create: 'create()',
  'window-whole-2000': `get(id), whole session of ${LONG_HISTORY_MESSAGES} structured messages`,
  'window-last20-2000': `get(id, { lastMessages: ${TURN_WINDOW} }) on the same ${LONG_HISTORY_MESSAGES}-message sessions`,
  'agent-turn': `one agent turn on sessions of ${AGENT_SESSION_MESSAGES} structured messages, the window read as objects and serialised (see bench/agent-turns.ts)`,
  'agent-turn-json': 'the same turn, the window read as JSON text (getMessagesJson) and put into the request body as it is; only the engine has this read',
};

/** The number of operations kept in flight for throughput, unless `inFlightFor` says otherwise. */
export const THROUGHPUT_IN_FLIGHT = 1_024;

/** Agent turns in flight for throughput: a host serves hundreds of conversations at once. */
export const AGENT_IN_FLIGHT = 256;

/** Whole reads of ~3 MB sessions in flight: 1 024 of them at once would be gigabytes, and a batch of 16 took seconds. */
export const LONG_WINDOW_IN_FLIGHT = 4;

/** The throughput concurrency of `workload`. */
export function inFlightFor(workload: WorkloadName): number {
  if (TURN_WORKLOADS.includes(workload)) return AGENT_IN_FLIGHT;
  if (workload === 'window-whole-2000' || workload === 'window-last20-2000') return LONG_WINDOW_IN_FLIGHT;
  return THROUGHPUT_IN_FLIGHT;
}

/** The operation cap of one run of `workload`. */
export function maxOpsFor(plan: Plan, workload: WorkloadName): number {
  if (TURN_WORKLOADS.includes(workload)) return plan.agentMaxTurns;
  if (workload === 'create') return plan.createMaxOps;
  // Mixed appends a fifth of its operations: five times the append cap grows sessions as much.
  if (workload === 'mixed') return plan.appendMaxOps * 5;
  return workload === 'append' ? plan.appendMaxOps : plan.runMaxOps;
}

/** The sizes for a mode. */
export function planFor(mode: Plan['mode']): Plan {
  switch (mode) {
    case 'quick':
      return {
        mode,
        sessions: 10_000,
        messagesPerSession: 10,
        longSessions: 250,
        longMessages: 100,
        agentSessions: 256,
        longHistorySessions: 4,
        runs: 3,
        runMaxOps: 1_000_000,
        runMaxMs: 250,
        appendMaxOps: 100_000,
        createMaxOps: 25_000,
        agentMaxTurns: 2_000,
        latencyMaxOps: 500_000,
        latencyMaxMs: 250,
        warmupMs: 80,
        latencyWarmupMs: 250,
        workloads: WORKLOAD_NAMES,
      };
    case 'full':
      return {
        mode,
        sessions: 100_000,
        messagesPerSession: 10,
        longSessions: 2_000,
        longMessages: 100,
        agentSessions: 1_000,
        longHistorySessions: 16,
        runs: 5,
        runMaxOps: 3_000_000,
        runMaxMs: 1_000,
        appendMaxOps: 300_000,
        createMaxOps: 100_000,
        agentMaxTurns: 6_000,
        latencyMaxOps: 2_000_000,
        latencyMaxMs: 1_000,
        warmupMs: 300,
        latencyWarmupMs: 500,
        workloads: WORKLOAD_NAMES,
      };
    case 'scale':
      return {
        mode,
        sessions: 1_000_000,
        messagesPerSession: 10,
        longSessions: 0,
        longMessages: 0,
        agentSessions: 0,
        longHistorySessions: 0,
        runs: 3,
        runMaxOps: 1_000_000,
        runMaxMs: 2_000,
        appendMaxOps: 1_000_000,
        createMaxOps: 0,
        agentMaxTurns: 0,
        latencyMaxOps: 2_000_000,
        latencyMaxMs: 1_000,
        warmupMs: 300,
        latencyWarmupMs: 500,
        workloads: ['mixed'],
      };
  }
}

const ROLES: Role[] = ['user', 'assistant'];
const FILLER = 'The quick brown fox jumps over the lazy dog while the agent reads the repository and plans. '.repeat(3);

/** A ~200-byte message, distinct per `n` (a fresh string, as one read from a socket would be). */
export function messageFor(n: number): MessageInput {
  const head = `message ${n}: `;
  return { role: ROLES[n & 1]!, content: head + FILLER.slice(0, 200 - head.length), timestamp: 1_764_000_000_000 + n };
}

/** Messages appended during the workloads: a fixed pool, since they are not what memory is measured on. */
const APPEND_POOL: MessageInput[] = Array.from({ length: 64 }, (_, n) => messageFor(n));

/** A variant that can seed sessions faster than one call per operation (set-up only). */
export interface Seedable {
  seed(count: number, messages: (session: number) => MessageInput[]): Promise<string[]>;
}

/** Creates `count` sessions of `messages` messages each, 1 024 calls in flight; resolves their ids. */
export async function prefill(api: SessionApi & Partial<Seedable>, count: number, messages: number, first = 0): Promise<string[]> {
  const build = (i: number) => Array.from({ length: messages }, (_, m) => messageFor((first + i) * messages + m));
  if (api.seed !== undefined) return api.seed(count, build);
  const ids = new Array<string>(count);
  await inLanes(count, THROUGHPUT_IN_FLIGHT, async (i) => {
    const id = await api.create();
    ids[i] = id;
    for (const message of build(i)) await api.appendMessage(id, message);
  });
  return ids;
}

/** Runs `job(i)` for i < count, `lanes` at a time (set-up, not measured). */
export async function inLanes(count: number, lanes: number, job: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await job(next++);
  };
  await Promise.all(Array.from({ length: Math.min(lanes, count) }, lane));
}

/** Messages per `appendMessages` call when filling long histories: one call of 2 000 would be ~3 MB. */
const FILL_CHUNK = 100;

/** Creates `count` sessions of `messages` structured messages (see `historyMessages`); resolves their ids. */
export async function prefillStructured(api: SessionApi & AgentApi, count: number, messages: number, lanes: number): Promise<string[]> {
  const ids = new Array<string>(count);
  await inLanes(count, lanes, async (i) => {
    const id = await api.create();
    ids[i] = id;
    const history = historyMessages(i * 7, messages);
    for (let at = 0; at < history.length; at += FILL_CHUNK) await api.appendMessages(id, history.slice(at, at + FILL_CHUNK));
  });
  return ids;
}

/** The sessions the workloads run on. */
export interface WorkloadSessions {
  ids: string[];
  longIds: string[];
  /** Sessions of `LONG_HISTORY_MESSAGES` structured messages. */
  historyIds: string[];
  /** The agent sessions' turns. */
  agent: AgentTurns | null;
}

/** The operation a workload issues for the k-th call. */
export function operationFor(name: WorkloadName, api: SessionApi, sessions: WorkloadSessions): (k: number) => Promise<unknown> {
  const { ids, longIds, historyIds, agent } = sessions;
  const pick = (from: string[]) => from[Math.floor(Math.random() * from.length)]!;
  switch (name) {
    case 'get':
      return () => api.get(pick(ids));
    case 'get-whole-100':
      return () => api.get(pick(longIds));
    case 'get-last5-100':
      return () => api.get(pick(longIds), { lastMessages: 5 });
    case 'mixed':
      return (k) => (Math.random() < 0.8 ? api.get(pick(ids)) : api.appendMessage(pick(ids), APPEND_POOL[k & 63]!));
    case 'append':
      return (k) => api.appendMessage(pick(ids), APPEND_POOL[k & 63]!);
    case 'create':
      return () => api.create();
    case 'window-whole-2000':
      return () => api.get(pick(historyIds));
    case 'window-last20-2000':
      return () => api.get(pick(historyIds), { lastMessages: TURN_WINDOW });
    case 'agent-turn':
    case 'agent-turn-json': {
      if (agent === null) throw new Error(`${name}: no agent sessions`);
      const form = name === 'agent-turn' ? 'objects' : 'json';
      return (k) => agent.next(k, form);
    }
  }
}
