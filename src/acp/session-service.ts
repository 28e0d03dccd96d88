/**
 * The session methods of an Agent Client Protocol agent, served from a `SessionEngine`.
 *
 * One `AcpSessionService` serves one ACP connection: it remembers that connection's client capabilities,
 * its authenticated owner and the sessions active on it. It uses only the engine's public API.
 */
import {
  methods,
  PROTOCOL_VERSION,
  RequestError,
  type AgentApp,
  type AgentCapabilities,
  type AgentContext,
  type AuthenticateRequest,
  type AuthenticateResponse,
  type AuthMethod,
  type CloseSessionRequest,
  type CloseSessionResponse,
  type ContentBlock,
  type DeleteSessionRequest,
  type DeleteSessionResponse,
  type Implementation,
  type InitializeRequest,
  type InitializeResponse,
  type ListSessionsRequest,
  type ListSessionsResponse,
  type LoadSessionRequest,
  type LoadSessionResponse,
  type McpServer,
  type NewSessionRequest,
  type NewSessionResponse,
  type PromptRequest,
  type PromptResponse,
  type ResumeSessionRequest,
  type ResumeSessionResponse,
  type SessionConfigOption,
  type SessionInfo,
  type SessionModeState,
  type SessionNotification,
  type SessionUpdate,
  type StopReason,
} from '@agentclientprotocol/sdk';
import { isAbsolute } from 'node:path';
import { ErrorCode, InvalidArgumentError, SessionEngineError } from '../main/errors.js';
import type { SessionEngine } from '../main/session-engine.js';
import { isCanonicalSessionId } from '../main/session-ids.js';
import type { ClientCapabilities, Session, SessionId } from '../protocol/model.js';
import { ulid } from 'ulid';
import { decodeCursor, encodeCursor, foldState, promptMessage, promptText, replayUpdates, type SessionState } from './content.js';
import { TurnRecorder } from './recorder.js';

/** Options of an `AcpSessionService`. */
export interface AcpSessionServiceOptions {
  /**
   * Sessions per `session/list` page.
   * @default 50
   */
  pageSize?: number;
  /**
   * Checks an `authenticate` request and resolves the principal it proves; throw a `RequestError` to refuse.
   * When given, every session method needs a successful `authenticate` first, the sessions a connection
   * creates are owned by its principal, and it sees, loads, resumes and deletes only those.
   * When omitted, the agent does not authenticate and every connection sees every session.
   */
  authenticate?: (request: AuthenticateRequest) => string | Promise<string>;
  /** The authentication methods `initialize` advertises (meaningful with `authenticate`). */
  authMethods?: AuthMethod[];
  /** What `initialize` says about the agent. */
  agentInfo?: Implementation;
  /** More capabilities for `initialize` (prompt or MCP capabilities, say); the session ones are set here. */
  agentCapabilities?: AgentCapabilities;
  /**
   * The longest title a session takes from its first prompt, in characters.
   * @default 80
   */
  titleLength?: number;
  /**
   * The agent's modes, with the mode a session starts in. `session/new` answers with them; `session/load` and
   * `session/fork` with the mode the session's last recorded `current_mode_update` set.
   */
  modes?: SessionModeState;
  /**
   * The config options a session starts with. `session/new` answers with them; `session/load` and
   * `session/fork` with those of the session's last recorded `config_option_update`.
   */
  configOptions?: SessionConfigOption[];
  /**
   * How many characters of chunks of one message a turn holds in memory before storing them (a longer
   * message is stored as several messages with the same `messageId`, and replays the same). Keep it well
   * under the engine's `maxMessageBytes`: a character may take 3 bytes as UTF-8.
   * @default 65536
   */
  maxHeldChars?: number;
}

/** What `register()` takes besides the app. */
export interface RegisterOptions {
  /**
   * Serves `session/prompt`: the service stores the prompt, runs this handler, records every
   * `session/update` it sends through `turn.client` (or `turn.send`), and answers with its stop reason
   * (`cancelled` whenever the client cancelled the turn).
   */
  prompt?: PromptHandler;
}

/** Runs one prompt turn; resolves the stop reason (or the whole response). */
export type PromptHandler = (turn: PromptTurn) => StopReason | PromptResponse | Promise<StopReason | PromptResponse>;

/** One prompt turn, as a `PromptHandler` sees it. */
export interface PromptTurn {
  sessionId: SessionId;
  /** The prompt's content blocks, as the client sent them (already stored). */
  prompt: ContentBlock[];
  /** The whole request. */
  request: PromptRequest;
  /** The session before the prompt was stored, without its messages (`length` says how many it holds). */
  session: Session;
  /** The engine id of the message that stores the prompt. */
  promptMessageId: string;
  /**
   * Aborts when the client cancels the turn (`session/cancel` or `$/cancel_request`), closes or deletes the
   * session, or the connection closes or re-authenticates. `signalFor(sessionId)` returns it while the turn runs.
   */
  signal: AbortSignal;
  /** The client: each `session/update` notified through it is sent, and recorded in its session. */
  client: AgentContext;
  /** Sends one `session/update` for this session to the client, and records it. */
  send(update: SessionUpdate): Promise<void>;
}

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_TITLE_LENGTH = 80;
const DEFAULT_MAX_HELD_CHARS = 65_536;
const OPTION_KEYS: readonly (keyof AcpSessionServiceOptions)[] = [
  'pageSize',
  'authenticate',
  'authMethods',
  'agentInfo',
  'agentCapabilities',
  'titleLength',
  'modes',
  'configOptions',
  'maxHeldChars',
];
const FORK_METHOD = 'session/fork';

/** A turn running on this connection. */
interface Turn {
  controller: AbortController;
  signal: AbortSignal;
  recorder: TurnRecorder;
}

/**
 * Serves `initialize`, `authenticate`, `session/new`, `load`, `list`, `resume`, `close`, `delete`, `cancel`
 * and `fork`, and runs `session/prompt` turns, for one connection. Create one per connection and `register()`
 * it on that connection's `AgentApp` with the agent's prompt handler: every `session/update` the handler sends
 * is recorded, and `session/load` replays them all.
 */
export class AcpSessionService {
  private readonly pageSize: number;
  private readonly titleLength: number;
  private readonly maxHeldChars: number;
  private capabilities: ClientCapabilities | null = null;
  private principal: string | null = null;
  /** The sessions active on this connection, each with the signal its work is cancelled by. */
  private readonly active = new Map<SessionId, AbortController>();
  /** The prompt turns running on this connection. */
  private readonly turns = new Map<SessionId, Turn>();

  constructor(
    private readonly engine: SessionEngine,
    private readonly options: AcpSessionServiceOptions = {},
  ) {
    for (const key of Object.keys(options)) {
      if (!(OPTION_KEYS as readonly string[]).includes(key)) throw new InvalidArgumentError(`options.${key} is not an option of AcpSessionService`);
    }
    this.pageSize = positiveInteger(options.pageSize, 'pageSize', DEFAULT_PAGE_SIZE);
    this.titleLength = positiveInteger(options.titleLength, 'titleLength', DEFAULT_TITLE_LENGTH);
    this.maxHeldChars = positiveInteger(options.maxHeldChars, 'maxHeldChars', DEFAULT_MAX_HELD_CHARS);
    if (options.modes !== undefined && !options.modes.availableModes.some((mode) => mode.id === options.modes!.currentModeId)) {
      throw new InvalidArgumentError(`options.modes.currentModeId ${JSON.stringify(options.modes.currentModeId)} is not one of its availableModes`);
    }
  }

  /** The client capabilities `initialize` received (`null` before it). */
  get clientCapabilities(): ClientCapabilities | null {
    return this.capabilities;
  }

  /** The principal `authenticate` proved (`null` before it, and always without `options.authenticate`). */
  get owner(): string | null {
    return this.principal;
  }

  /**
   * Registers this service's handlers on the connection's app, `session/prompt` too when `options.prompt` is
   * given (`session/cancel` always: it cancels the turns this service runs); returns the app. `session/fork`
   * (unstable in the protocol) is registered as an extension method, since the SDK's stable app has none.
   */
  register(app: AgentApp, options: RegisterOptions = {}): AgentApp {
    for (const key of Object.keys(options)) {
      if (key !== 'prompt') throw new InvalidArgumentError(`options.${key} is not an option of register()`);
    }
    app
      .onRequest(methods.agent.initialize, ({ params }) => this.initialize(params))
      .onRequest(methods.agent.session.new, ({ params }) => this.newSession(params))
      .onRequest(methods.agent.session.load, ({ params, client }) => this.loadSession(params, client))
      .onRequest(methods.agent.session.list, ({ params }) => this.listSessions(params))
      .onRequest(methods.agent.session.resume, ({ params }) => this.resumeSession(params))
      .onRequest(methods.agent.session.close, ({ params }) => this.closeSession(params))
      .onRequest(methods.agent.session.delete, ({ params }) => this.deleteSession(params))
      .onRequest(FORK_METHOD, parseForkRequest, ({ params }) => this.forkSession(params))
      .onNotification(methods.agent.session.cancel, ({ params }) => this.cancel(params.sessionId));
    const handler = options.prompt;
    if (handler !== undefined) {
      if (typeof handler !== 'function') throw new InvalidArgumentError('options.prompt must be a function');
      app.onRequest(methods.agent.session.prompt, ({ params, client, signal }) => this.prompt(params, client, handler, signal));
    }
    if (this.options.authenticate !== undefined) {
      app.onRequest(methods.agent.authenticate, ({ params }) => this.authenticate(params));
    }
    return app;
  }

  /** `initialize`: remembers the client's capabilities and advertises load, list, resume, close and delete. */
  initialize(request: InitializeRequest): InitializeResponse {
    this.capabilities = (request.clientCapabilities ?? null) as ClientCapabilities | null;
    const extra = this.options.agentCapabilities ?? {};
    return {
      protocolVersion: PROTOCOL_VERSION,
      agentCapabilities: {
        ...extra,
        loadSession: true,
        // fork is unstable in the protocol: the stable types lack it, and stable clients ignore it.
        sessionCapabilities: { ...extra.sessionCapabilities, list: {}, resume: {}, close: {}, delete: {}, ...{ fork: {} } },
      },
      authMethods: this.options.authMethods ?? [],
      ...(this.options.agentInfo === undefined ? {} : { agentInfo: this.options.agentInfo }),
    };
  }

  /** `authenticate`: the principal `options.authenticate` resolves owns this connection's sessions. */
  async authenticate(request: AuthenticateRequest): Promise<AuthenticateResponse> {
    const check = this.options.authenticate;
    if (check === undefined) throw RequestError.methodNotFound(methods.agent.authenticate);
    const principal = await check(request);
    if (typeof principal !== 'string' || principal === '') throw RequestError.internalError(undefined, 'authenticate resolved no principal');
    if (this.principal !== principal) this.forgetActive();
    this.principal = principal;
    return {};
  }

  /** `session/new`: a session holding the client's capabilities, the MCP servers' names, the cwd and the owner. */
  async newSession(request: NewSessionRequest): Promise<NewSessionResponse> {
    this.assertAuthenticated();
    checkCwd(request.cwd);
    const sessionId = await this.call(null, () =>
      this.engine.create({
        cwd: request.cwd,
        clientCapabilities: this.capabilities,
        mcpServers: serverNames(request.mcpServers),
        ...(this.principal === null ? {} : { owner: this.principal }),
      }),
    );
    this.activate(sessionId);
    return { sessionId, ...this.stateResponse({}) };
  }

  /**
   * `session/load`: replays the stored conversation as `session/update` notifications, in the order they
   * were sent (see `replayUpdates`), then answers with the session's mode and config options.
   */
  async loadSession(request: LoadSessionRequest, client: AgentContext): Promise<LoadSessionResponse> {
    this.assertAuthenticated();
    checkCwd(request.cwd);
    const session = await this.find(request.sessionId);
    const state: SessionState = {};
    for (const message of session.context) {
      foldState(state, message);
      for (const update of replayUpdates(message)) await client.notify(methods.client.session.update, { sessionId: session.id, update });
    }
    this.activate(session.id);
    return this.stateResponse(state);
  }

  /**
   * `session/fork` (unstable in the protocol): a new session from the engine's `fork` (the whole history,
   * the title and metadata), with the request's `cwd` and MCP servers and this connection's capabilities,
   * active on this connection.
   */
  async forkSession(request: ForkRequest): Promise<NewSessionResponse> {
    this.assertAuthenticated();
    checkCwd(request.cwd);
    const source = await this.find(request.sessionId);
    const state: SessionState = {};
    for (const message of source.context) foldState(state, message);
    const sessionId = await this.call(source.id, () => this.engine.fork(source.id));
    await this.call(sessionId, () =>
      this.engine.update(sessionId, { cwd: request.cwd, mcpServers: serverNames(request.mcpServers), clientCapabilities: this.capabilities }),
    );
    this.activate(sessionId);
    return { sessionId, ...this.stateResponse(state) };
  }

  /** `session/resume`: makes the session active on this connection, without replay. */
  async resumeSession(request: ResumeSessionRequest): Promise<ResumeSessionResponse> {
    this.assertAuthenticated();
    checkCwd(request.cwd);
    const session = await this.find(request.sessionId, 0);
    this.activate(session.id);
    return {};
  }

  /** `session/close`: cancels the session's work on this connection (see `signalFor`) and forgets it here. */
  async closeSession(request: CloseSessionRequest): Promise<CloseSessionResponse> {
    this.assertAuthenticated();
    if (!this.deactivate(request.sessionId)) await this.find(request.sessionId, 0);
    return {};
  }

  /** `session/delete`: removes the session; an unknown (or someone else's) id succeeds without effect. */
  async deleteSession(request: DeleteSessionRequest): Promise<DeleteSessionResponse> {
    this.assertAuthenticated();
    const id = request.sessionId;
    this.deactivate(id);
    if (!isCanonicalSessionId(id)) return {};
    if (this.principal !== null) {
      const session = await this.call(id, () => this.engine.get(id, { lastMessages: 0 }));
      if (session === undefined || session.owner !== this.principal) return {};
    }
    await this.call(id, () => this.engine.remove(id));
    return {};
  }

  /**
   * `session/list`: sessions newest first (by creation), `cwd` filtered, paged by an opaque cursor, with
   * their title and `updatedAt`. Sessions without a cwd (created outside ACP) are left out: ACP requires one.
   * Reading each listed session refreshes its idle clock, as any read does.
   */
  async listSessions(request: ListSessionsRequest): Promise<ListSessionsResponse> {
    this.assertAuthenticated();
    const cwd = request.cwd ?? undefined;
    if (cwd !== undefined) checkCwd(cwd);
    let after: SessionId | undefined;
    if (request.cursor !== undefined && request.cursor !== null) {
      const id = decodeCursor(request.cursor);
      if (id === null || !isCanonicalSessionId(id)) throw RequestError.invalidParams({ cursor: request.cursor }, 'cursor: not a cursor of this agent');
      after = id;
    }
    const ids = await this.call(null, () =>
      this.engine.list({
        order: 'desc',
        limit: this.pageSize + 1,
        ...(after === undefined ? {} : { after }),
        ...(cwd === undefined ? {} : { cwd }),
        ...(this.principal === null ? {} : { owner: this.principal }),
      }),
    );
    const page = ids.slice(0, this.pageSize);
    const sessions = await Promise.all(page.map((id) => this.call(id, () => this.engine.get(id, { lastMessages: 0 }))));
    const infos: SessionInfo[] = [];
    for (const session of sessions) {
      // Gone since the list was taken (expired or deleted), or without a cwd: not listed.
      if (session === undefined || session.cwd === null) continue;
      infos.push({ sessionId: session.id, cwd: session.cwd, title: session.title, updatedAt: new Date(session.updatedAt).toISOString() });
    }
    return ids.length > this.pageSize ? { sessions: infos, nextCursor: encodeCursor(page.at(-1)!) } : { sessions: infos };
  }

  /**
   * The session of a session-scoped request (`session/prompt`, say), which must be active on this
   * connection; rejects with the protocol's "resource not found" otherwise.
   */
  async requireActive(sessionId: SessionId, lastMessages?: number): Promise<Session> {
    if (!this.active.has(sessionId)) throw RequestError.sessionNotFound(sessionId);
    return this.find(sessionId, lastMessages);
  }

  /** Whether the session is active on this connection (created, loaded or resumed here, and not closed). */
  isActive(sessionId: SessionId): boolean {
    return this.active.has(sessionId);
  }

  /**
   * While a turn runs: its signal (see `PromptTurn.signal`). Otherwise the session's: it aborts when the
   * session is closed or deleted, or the connection re-authenticates. `undefined` if the session is not active.
   */
  signalFor(sessionId: SessionId): AbortSignal | undefined {
    return this.turns.get(sessionId)?.signal ?? this.active.get(sessionId)?.signal;
  }

  /** `session/cancel`: aborts the session's running turn (which then answers `cancelled`); nothing else. */
  cancel(sessionId: SessionId): void {
    this.turns.get(sessionId)?.controller.abort(new DOMException('the client cancelled the prompt turn', 'AbortError'));
  }

  /**
   * Records an update sent to the client outside a turn this service runs (after `session/set_mode`, say),
   * so that `session/load` replays it; during such a turn, it joins the turn's record. Does not send it.
   * Rejects with "resource not found" when the session is not active on this connection.
   */
  async record(sessionId: SessionId, update: SessionUpdate): Promise<void> {
    if (!this.active.has(sessionId)) throw RequestError.sessionNotFound(sessionId);
    const turn = this.turns.get(sessionId);
    if (turn !== undefined) return turn.recorder.record(update);
    const recorder = new TurnRecorder((messages) => this.call(sessionId, () => this.engine.appendMessages(sessionId, messages)), this.maxHeldChars);
    recorder.record(update);
    await recorder.finish();
  }

  /**
   * Runs one `session/prompt` turn: stores the prompt first (a turn that fails keeps it), runs the handler
   * with a client whose `session/update`s are recorded, stores what it sent, and answers. A cancelled turn
   * answers `cancelled`, whatever the handler did; a failed one rejects, its record kept.
   */
  async prompt(request: PromptRequest, client: AgentContext, handler: PromptHandler, requestSignal?: AbortSignal): Promise<PromptResponse> {
    this.assertAuthenticated();
    const sessionId = request.sessionId;
    const active = this.active.get(sessionId);
    if (active === undefined) throw RequestError.sessionNotFound(sessionId);
    if (this.turns.has(sessionId)) throw RequestError.invalidRequest({ sessionId }, `session ${sessionId} already has a prompt turn running`);
    const controller = new AbortController();
    const signals = [active.signal, controller.signal];
    if (requestSignal !== undefined) signals.push(requestSignal);
    const recorder = new TurnRecorder((messages) => this.engine.appendMessages(sessionId, messages), this.maxHeldChars);
    const turn: Turn = { controller, signal: AbortSignal.any(signals), recorder };
    // Registered before the first await: a cancel that arrives while the prompt is stored is not missed.
    this.turns.set(sessionId, turn);
    try {
      const session = await this.find(sessionId, 0);
      const promptMessageId = ulid();
      await this.call(sessionId, () => this.engine.appendMessage(sessionId, promptMessage(promptMessageId, request.prompt)));
      if (session.title === null) await this.takeTitle(sessionId, promptText(request.prompt));
      let outcome: { response: PromptResponse } | { error: unknown } = { response: { stopReason: 'cancelled' } };
      if (!turn.signal.aborted) {
        const recording = this.recordingClient(client);
        try {
          const result = await handler({
            sessionId,
            prompt: request.prompt,
            request,
            session,
            promptMessageId,
            signal: turn.signal,
            client: recording,
            send: (update) => recording.notify(methods.client.session.update, { sessionId, update }),
          });
          outcome = { response: typeof result === 'string' ? { stopReason: result } : result };
        } catch (error) {
          outcome = { error };
        }
      }
      await this.call(sessionId, () => recorder.finish());
      if (controller.signal.aborted) return { stopReason: 'cancelled' };
      if ('error' in outcome) throw toRequestError(outcome.error, sessionId);
      return outcome.response;
    } finally {
      if (this.turns.get(sessionId) === turn) this.turns.delete(sessionId);
    }
  }

  /**
   * Records one prompt turn: appends the user's prompt (see `promptText`) and the agent's reply, in that
   * order. A session without a title takes the first line of its first prompt. Rejects with "resource not
   * found" when the session is not active on this connection or no longer exists.
   */
  async recordTurn(sessionId: SessionId, prompt: string | ContentBlock | readonly ContentBlock[], reply: string): Promise<void> {
    // The text-only path of 0.1.0, for agents that run their own prompt handler; see register({ prompt }).
    const session = await this.requireActive(sessionId, 0);
    const text = promptText(prompt);
    // Both appends go to one shard's queue, in call order: the pair is never interleaved with itself.
    const appended = [
      this.engine.appendMessage(sessionId, { role: 'user', content: text }),
      this.engine.appendMessage(sessionId, { role: 'assistant', content: reply }),
    ];
    if (session.title === null) {
      const title = text.split('\n', 1)[0]!.trim().slice(0, this.titleLength);
      if (title !== '') appended.push(this.engine.update(sessionId, { title }).then(() => 0));
    }
    await this.call(sessionId, () => Promise.all(appended));
  }

  /** `client` with its `session/update` notifications recorded in their session (when active on this connection). */
  private recordingClient(client: AgentContext): AgentContext {
    const recording = Object.create(client) as AgentContext;
    const notify = (method: string, params?: unknown): Promise<void> => {
      if (method === methods.client.session.update) {
        const notification = params as SessionNotification;
        const turn = this.turns.get(notification?.sessionId);
        // Recorded before it is sent, in call order; a failure to record fails the turn when it ends.
        if (turn !== undefined) {
          try {
            turn.recorder.record(notification.update);
          } catch (error) {
            return Promise.reject(error);
          }
        } else if (this.active.has(notification?.sessionId)) {
          return Promise.all([client.notify(method, params), this.record(notification.sessionId, notification.update)]).then(() => undefined);
        }
      }
      return client.notify(method, params);
    };
    Object.defineProperty(recording, 'notify', { value: notify });
    return recording;
  }

  /** A session without a title takes the first line of its first prompt. */
  private async takeTitle(sessionId: SessionId, text: string): Promise<void> {
    const title = text.split('\n', 1)[0]!.trim().slice(0, this.titleLength);
    if (title !== '') await this.call(sessionId, () => this.engine.update(sessionId, { title }));
  }

  /** The mode and config options of a `session/new`, `load` or `fork` answer. */
  private stateResponse(state: SessionState): { modes?: SessionModeState; configOptions?: SessionConfigOption[] } {
    const response: { modes?: SessionModeState; configOptions?: SessionConfigOption[] } = {};
    const modes = this.options.modes;
    if (modes !== undefined) response.modes = { ...modes, currentModeId: state.currentModeId ?? modes.currentModeId };
    const configOptions = state.configOptions ?? this.options.configOptions;
    if (configOptions !== undefined) response.configOptions = configOptions;
    return response;
  }

  private assertAuthenticated(): void {
    if (this.options.authenticate !== undefined && this.principal === null) throw RequestError.authRequired();
  }

  /** The session if it exists and this connection may see it; "resource not found" otherwise. */
  private async find(sessionId: SessionId, lastMessages?: number): Promise<Session> {
    if (!isCanonicalSessionId(sessionId)) throw RequestError.sessionNotFound(sessionId);
    const session = await this.call(sessionId, () => this.engine.get(sessionId, lastMessages === undefined ? undefined : { lastMessages }));
    // Someone else's session answers exactly as an unknown one: its existence is not disclosed.
    if (session === undefined || (this.principal !== null && session.owner !== this.principal)) {
      this.deactivate(sessionId);
      throw RequestError.sessionNotFound(sessionId);
    }
    return session;
  }

  private activate(sessionId: SessionId): void {
    if (!this.active.has(sessionId)) this.active.set(sessionId, new AbortController());
  }

  private deactivate(sessionId: SessionId): boolean {
    const controller = this.active.get(sessionId);
    if (controller === undefined) return false;
    this.active.delete(sessionId);
    controller.abort();
    return true;
  }

  private forgetActive(): void {
    for (const id of [...this.active.keys()]) this.deactivate(id);
  }

  /** Runs an engine call, turning its typed errors into the protocol's. */
  private async call<T>(sessionId: SessionId | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toRequestError(error, sessionId);
    }
  }
}

/** The protocol error for an engine error: a missing session is "resource not found", bad input "invalid params". */
export function toRequestError(error: unknown, sessionId: SessionId | null): unknown {
  if (!(error instanceof SessionEngineError)) return error;
  switch (error.code) {
    case ErrorCode.SESSION_NOT_FOUND:
    case ErrorCode.INVALID_SESSION_ID:
      return sessionId === null ? RequestError.resourceNotFound() : RequestError.sessionNotFound(sessionId);
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.LIMIT_EXCEEDED:
      return RequestError.invalidParams({ code: error.code }, error.message);
    default:
      return RequestError.internalError({ code: error.code }, error.message);
  }
}

function checkCwd(cwd: unknown): asserts cwd is string {
  if (typeof cwd !== 'string' || !isAbsolute(cwd)) {
    throw RequestError.invalidParams({ cwd }, `cwd must be an absolute path, got ${JSON.stringify(cwd)}`);
  }
}

/** The params of `session/fork`, as far as this service reads them. */
export interface ForkRequest {
  sessionId: SessionId;
  cwd: string;
  mcpServers?: McpServer[];
}

/** Checks the params of `session/fork` (the SDK's stable entry point has no schema for it). */
function parseForkRequest(params: unknown): ForkRequest {
  const object = (typeof params === 'object' && params !== null ? params : {}) as Record<string, unknown>;
  if (typeof object.sessionId !== 'string') throw RequestError.invalidParams({ sessionId: object.sessionId }, 'sessionId must be a string');
  checkCwd(object.cwd);
  const servers = object.mcpServers;
  if (servers !== undefined && servers !== null && (!Array.isArray(servers) || !servers.every((s) => typeof s?.name === 'string'))) {
    throw RequestError.invalidParams({ mcpServers: servers }, 'mcpServers must be an array of servers with a name');
  }
  return { sessionId: object.sessionId, cwd: object.cwd, ...(Array.isArray(servers) ? { mcpServers: servers as McpServer[] } : {}) };
}

function serverNames(servers: readonly McpServer[] | undefined): string[] {
  return (servers ?? []).map((server) => server.name);
}

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`options.${name} must be an integer >= 1, got ${String(value)}`);
  return value;
}
