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
  type ResumeSessionRequest,
  type ResumeSessionResponse,
  type SessionInfo,
} from '@agentclientprotocol/sdk';
import { isAbsolute } from 'node:path';
import { ErrorCode, InvalidArgumentError, SessionEngineError } from '../main/errors.js';
import type { SessionEngine } from '../main/session-engine.js';
import { isCanonicalSessionId } from '../main/session-ids.js';
import type { ClientCapabilities, Session, SessionId } from '../protocol/model.js';
import { decodeCursor, encodeCursor, promptText, replayUpdate } from './content.js';

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
   * The longest title `recordTurn` derives from a session's first prompt, in characters.
   * @default 80
   */
  titleLength?: number;
}

const DEFAULT_PAGE_SIZE = 50;
const DEFAULT_TITLE_LENGTH = 80;

/**
 * Serves `initialize`, `authenticate`, and `session/new`, `load`, `list`, `resume`, `close` and `delete`
 * for one connection. Create one per connection, `register()` it on that connection's `AgentApp`, and
 * call `recordTurn()` from the agent's own `session/prompt` handler.
 */
export class AcpSessionService {
  private readonly pageSize: number;
  private readonly titleLength: number;
  private capabilities: ClientCapabilities | null = null;
  private principal: string | null = null;
  /** The sessions active on this connection, each with the signal its work is cancelled by. */
  private readonly active = new Map<SessionId, AbortController>();

  constructor(
    private readonly engine: SessionEngine,
    private readonly options: AcpSessionServiceOptions = {},
  ) {
    this.pageSize = positiveInteger(options.pageSize, 'pageSize', DEFAULT_PAGE_SIZE);
    this.titleLength = positiveInteger(options.titleLength, 'titleLength', DEFAULT_TITLE_LENGTH);
  }

  /** The client capabilities `initialize` received (`null` before it). */
  get clientCapabilities(): ClientCapabilities | null {
    return this.capabilities;
  }

  /** The principal `authenticate` proved (`null` before it, and always without `options.authenticate`). */
  get owner(): string | null {
    return this.principal;
  }

  /** Registers this service's handlers on the connection's app; returns the app. */
  register(app: AgentApp): AgentApp {
    app
      .onRequest(methods.agent.initialize, ({ params }) => this.initialize(params))
      .onRequest(methods.agent.session.new, ({ params }) => this.newSession(params))
      .onRequest(methods.agent.session.load, ({ params, client }) => this.loadSession(params, client))
      .onRequest(methods.agent.session.list, ({ params }) => this.listSessions(params))
      .onRequest(methods.agent.session.resume, ({ params }) => this.resumeSession(params))
      .onRequest(methods.agent.session.close, ({ params }) => this.closeSession(params))
      .onRequest(methods.agent.session.delete, ({ params }) => this.deleteSession(params));
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
        sessionCapabilities: { ...extra.sessionCapabilities, list: {}, resume: {}, close: {}, delete: {} },
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
    return { sessionId };
  }

  /** `session/load`: replays the stored conversation as `session/update` notifications, in order, then answers. */
  async loadSession(request: LoadSessionRequest, client: AgentContext): Promise<LoadSessionResponse> {
    this.assertAuthenticated();
    checkCwd(request.cwd);
    const session = await this.find(request.sessionId);
    for (let i = 0; i < session.context.length; i++) {
      const update = replayUpdate(session.id, i, session.context[i]!);
      if (update !== null) await client.notify(methods.client.session.update, { sessionId: session.id, update });
    }
    this.activate(session.id);
    return {};
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

  /** Aborts when the session is closed, deleted, or the connection re-authenticates; `undefined` if not active. */
  signalFor(sessionId: SessionId): AbortSignal | undefined {
    return this.active.get(sessionId)?.signal;
  }

  /**
   * Records one prompt turn: appends the user's prompt (see `promptText`) and the agent's reply, in that
   * order. A session without a title takes the first line of its first prompt. Rejects with "resource not
   * found" when the session is not active on this connection or no longer exists.
   */
  async recordTurn(sessionId: SessionId, prompt: string | ContentBlock | readonly ContentBlock[], reply: string): Promise<void> {
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

function serverNames(servers: readonly McpServer[] | undefined): string[] {
  return (servers ?? []).map((server) => server.name);
}

function positiveInteger(value: number | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new InvalidArgumentError(`options.${name} must be an integer >= 1, got ${String(value)}`);
  return value;
}
