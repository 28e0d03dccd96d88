/**
 * The `'expired'` events of a Redis store: Redis's keyspace notifications for the sessions' meta keys.
 *
 * Best effort, as Redis promises: a notification is sent when Redis deletes the key (on access or by its
 * background expiry cycle, so it may come well after the TTL), and one sent while no subscriber was
 * connected is lost for good. A cluster sends each node's notifications only to that node's subscribers:
 * every master gets its own subscriber, kept in step with the cluster's topology (after a failover too).
 */
import { Cluster, type Redis } from 'ioredis';
import type { SessionId } from '../../protocol/model.js';
import { idOfMetaKey } from './keys.js';
import type { RedisClient } from './redis-store.js';

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

  constructor(
    private readonly client: RedisClient,
    private readonly onExpired: (ids: SessionId[]) => void,
  ) {
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
    // A restarted Redis has forgotten a CONFIG SET: enable the events again on every (re)connection.
    let first: () => void = () => undefined;
    this.firstSubscribed.set(subscriber, new Promise<void>((resolve) => (first = resolve)));
    subscriber.on('ready', () => {
      void enableExpiredEvents(subscriber)
        .then(() => subscriber.subscribe(channel))
        .then(first)
        .catch(() => undefined);
    });
    subscriber.on('message', (_channel: string, key: string) => {
      const id = idOfMetaKey(key);
      if (id !== null) this.queue(id);
    });
    return subscriber;
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

/**
 * Turns on keyevent notifications of expired keys where the server allows `CONFIG` (managed services often
 * do not: configure `notify-keyspace-events` to include `Ex` there). Failure is silent: events are best effort.
 */
async function enableExpiredEvents(connection: Redis): Promise<void> {
  try {
    const [, flags = ''] = (await connection.config('GET', 'notify-keyspace-events')) as string[];
    const wanted = withExpiredEvents(flags);
    if (wanted !== flags) await connection.config('SET', 'notify-keyspace-events', wanted);
  } catch {
    // refused (a managed Redis) or unreachable: the events stay off until someone configures them
  }
}
