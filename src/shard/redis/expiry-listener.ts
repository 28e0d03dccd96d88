/**
 * The `'expired'` events of a Redis store: Redis's keyspace notifications for the sessions' meta keys.
 *
 * Best effort, as Redis promises: a notification is sent when Redis deletes the key (on access or by its
 * background expiry cycle, so it may come well after the TTL), and one sent while no subscriber was
 * connected is lost for good. A cluster sends each node's notifications only to that node's subscribers:
 * every master gets its own subscriber, kept in step with the cluster's topology (after a failover too).
 *
 * Redis sends them only when its `notify-keyspace-events` setting asks for them: a global setting of the
 * server, shared with every other app on it. So the listener changes it (`CONFIG SET`) only when the
 * engine was told it may (`store.configureKeyspaceEvents`); otherwise it only reads it (`CONFIG GET`), and
 * warns once when it finds the events off. Where `CONFIG` is refused (managed services often rename it)
 * the setting cannot be read: the listener subscribes all the same and stays silent, unless it was told to
 * configure the server, which it then says it could not.
 */
import { Cluster, type Redis } from 'ioredis';
import { KEYSPACE_EVENTS_WARNING } from '../../protocol/messages.js';
import type { SessionId } from '../../protocol/model.js';
import { KeySpace } from './keys.js';
import type { RedisClient } from './redis-store.js';

/** What the listener is told: which keys are this engine's, whether it may configure the server, whom to warn. */
export interface ExpiryListenerOptions {
  keys?: KeySpace;
  /** Whether it may `CONFIG SET notify-keyspace-events` (see the module comment). @default false */
  configure?: boolean;
  /** Called at most once per code, with a stable `code` and a message for the operator. */
  warn?: (code: string, message: string) => void;
}

/** Adds the flags keyevent notifications of expired keys need (`E`, `x`) to what is configured already. */
export function withExpiredEvents(flags: string): string {
  let result = flags;
  if (!result.includes('E')) result += 'E';
  // 'A' is an alias that includes 'x'.
  if (!result.includes('x') && !result.includes('A')) result += 'x';
  return result;
}

export class ExpiryListener {
  private readonly subscribers = new Map<string, Redis>();
  /** Resolves once each subscriber has subscribed the first time. */
  private readonly firstSubscribed = new Map<Redis, Promise<void>>();
  private pending: SessionId[] = [];
  private flushScheduled = false;
  private closed = false;
  private readonly onTopology = (): void => this.syncSubscribers();
  private readonly keys: KeySpace;
  private readonly configure: boolean;
  private readonly warn: (code: string, message: string) => void;
  private readonly warned = new Set<string>();

  constructor(
    private readonly client: RedisClient,
    private readonly onExpired: (ids: SessionId[]) => void,
    options: ExpiryListenerOptions = {},
  ) {
    this.keys = options.keys ?? new KeySpace();
    this.configure = options.configure ?? false;
    this.warn = options.warn ?? (() => undefined);
    if (client instanceof Cluster) {
      // 'refresh' follows every change of the slot map, a failover included.
      client.on('refresh', this.onTopology);
      client.on('+node', this.onTopology);
      client.on('-node', this.onTopology);
    }
    this.syncSubscribers();
  }

  /**
   * Resolves once every master known now has a subscription, or after `timeoutMs` (events are best effort:
   * a start must not fail for them). Sessions expiring before then would go unannounced.
   */
  async subscribed(timeoutMs: number): Promise<void> {
    this.syncSubscribers();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all([...this.subscribers.values()].map((subscriber) => this.firstSubscribed.get(subscriber))),
      new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
    ]);
    clearTimeout(timer);
  }

  /** Stops every subscriber. */
  close(): void {
    this.closed = true;
    if (this.client instanceof Cluster) {
      this.client.off('refresh', this.onTopology);
      this.client.off('+node', this.onTopology);
      this.client.off('-node', this.onTopology);
    }
    for (const subscriber of this.subscribers.values()) subscriber.disconnect();
    this.subscribers.clear();
  }

  private syncSubscribers(): void {
    if (this.closed) return;
    const masters = this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
    const wanted = new Map(masters.map((node) => [`${node.options.host}:${node.options.port}`, node]));
    for (const [address, subscriber] of this.subscribers) {
      if (!wanted.has(address)) {
        subscriber.disconnect();
        this.subscribers.delete(address);
        this.firstSubscribed.delete(subscriber);
      }
    }
    for (const [address, node] of wanted) {
      if (!this.subscribers.has(address)) this.subscribers.set(address, this.subscribe(node));
    }
  }

  private subscribe(node: Redis): Redis {
    // A duplicate keeps the node's address and credentials; a subscriber never times out its commands.
    const subscriber = node.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
      enableAutoPipelining: false,
      // A cluster's node connections are lazy; this one must connect (and reconnect) by itself.
      lazyConnect: false,
      // Subscribed anew on each connection below, after the CONFIG a subscribed connection may not send.
      autoResubscribe: false,
    });
    subscriber.on('error', () => undefined);
    const channel = `__keyevent@${node.options.db ?? 0}__:expired`;
    // A restarted Redis has forgotten a CONFIG SET (and may have been reconfigured): check on every (re)connection.
    let first: () => void = () => undefined;
    this.firstSubscribed.set(subscriber, new Promise<void>((resolve) => (first = resolve)));
    subscriber.on('ready', () => {
      void this.checkExpiredEvents(subscriber, `${node.options.host}:${node.options.port}`)
        .then(() => subscriber.subscribe(channel))
        .then(first)
        .catch(() => undefined);
    });
    subscriber.on('message', (_channel: string, key: string) => {
      const id = this.keys.idOfMetaKey(key);
      if (id !== null) this.queue(id);
    });
    return subscriber;
  }

  /**
   * Reads the server's `notify-keyspace-events`; when expired keys are not notified, turns them on if
   * allowed, else warns (see the module comment). Never fails: the events are best effort.
   */
  private async checkExpiredEvents(connection: Redis, address: string): Promise<void> {
    let flags: string;
    try {
      [, flags = ''] = (await connection.config('GET', 'notify-keyspace-events')) as string[];
    } catch (error) {
      // A connection lost meanwhile is no answer: the next 'ready' checks again.
      if (this.configure && refused(error))
        this.warnOnce(`${cannotConfigure(address, error)}: set notify-keyspace-events to include "Ex" in the server's configuration`);
      return;
    }
    const wanted = withExpiredEvents(flags);
    if (wanted === flags) return;
    if (!this.configure) {
      this.warnOnce(
        `Redis at ${address} does not notify expired keys (notify-keyspace-events is ${JSON.stringify(flags)}), so the engine emits no 'expired' events ` +
          `(sessions still expire). To get them, set notify-keyspace-events to ${JSON.stringify(wanted)} on the server ` +
          `(CONFIG SET notify-keyspace-events ${wanted}, or in redis.conf), or let the engine set it with store.configureKeyspaceEvents: true`,
      );
      return;
    }
    try {
      await connection.config('SET', 'notify-keyspace-events', wanted);
    } catch (error) {
      if (refused(error))
        this.warnOnce(`${cannotConfigure(address, error)}: set notify-keyspace-events to ${JSON.stringify(wanted)} in the server's configuration`);
    }
  }

  private warnOnce(message: string): void {
    if (this.closed || this.warned.has(KEYSPACE_EVENTS_WARNING)) return;
    this.warned.add(KEYSPACE_EVENTS_WARNING);
    this.warn(KEYSPACE_EVENTS_WARNING, message);
  }

  private queue(id: SessionId): void {
    this.pending.push(id);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // One event for what arrives together: Redis's expiry cycle removes keys in bursts.
    setImmediate(() => {
      this.flushScheduled = false;
      const ids = this.pending;
      this.pending = [];
      if (!this.closed && ids.length > 0) this.onExpired(ids);
    });
  }
}

/** Whether the server answered with an error (rather than the connection failing). */
function refused(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError';
}

/** The start of the warning of a server that refused `CONFIG` though store.configureKeyspaceEvents asked for it. */
function cannotConfigure(address: string, error: unknown): string {
  const reason = error instanceof Error ? error.message : String(error);
  return `store.configureKeyspaceEvents: Redis at ${address} refused CONFIG (${reason}), so it may not notify expired keys and the engine may emit no 'expired' events (sessions still expire)`;
}
