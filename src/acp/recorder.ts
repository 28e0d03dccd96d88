/**
 * The record of one prompt turn: every `session/update` the agent sends, turned into messages (content.ts)
 * and appended to the session in the order sent.
 *
 * Chunks of one message are held until the message ends (another update, the turn's end, or `maxRunChars`
 * characters held), so that a reply streamed word by word is one stored message, not hundreds; everything
 * else is appended at once. Appends are grouped: while one is in flight, the next ones wait and go together,
 * so the agent never waits for the store and the store sees few calls. The first append that fails stops the
 * record there (what follows is not stored, so the record never has a hole) and fails the turn.
 */
import type { ContentPart, JsonObject } from '../protocol/content.js';
import type { MessageInput } from '../protocol/model.js';
import { ulid } from 'ulid';
import { type ChunkKind, type ChunkRunInfo, chunkPart, isChunk, isPlainText, toJson, updateMessage } from './content.js';

/** A run of chunks of one message, not yet stored. */
interface Run {
  info: ChunkRunInfo;
  /** The `messageId` the chunks carried (`null`: none, and `info.messageId` was minted). */
  given: string | null;
  parts: ContentPart[];
  chars: number;
}

export class TurnRecorder {
  private run: Run | null = null;
  private queue: MessageInput[] = [];
  private inFlight: Promise<void> | null = null;
  private failure: { error: unknown } | null = null;

  constructor(
    private readonly write: (messages: MessageInput[]) => Promise<unknown>,
    private readonly maxRunChars: number,
  ) {}

  /** Records one update (as JSON carries it). Throws when the update is not an object with a `sessionUpdate`. */
  record(update: unknown): void {
    const json = toJson(update);
    if (typeof json !== 'object' || json === null || Array.isArray(json) || typeof json.sessionUpdate !== 'string') {
      throw new TypeError(`a session/update must be an object with a sessionUpdate, got ${JSON.stringify(json)}`);
    }
    const kind = json.sessionUpdate;
    const content = json.content;
    if (!isChunk(kind) || typeof content !== 'object' || content === null || Array.isArray(content) || typeof content.type !== 'string') {
      this.endRun();
      this.enqueue(updateMessage(json));
      return;
    }
    const { sessionUpdate: _kind, content: _content, messageId, ...rest } = json;
    const given = typeof messageId === 'string' ? messageId : null;
    const extra = Object.keys(rest).length === 0 ? undefined : (rest as JsonObject);
    const part = chunkPart(kind, content as ContentPart);
    const run = this.run;
    if (run !== null && run.info.update === kind && run.given === given && extra === undefined && run.info.extra === undefined) {
      const last = run.parts.at(-1);
      if (last !== undefined && isPlainText(last) && isPlainText(part) && last.type === part.type) last.text += part.text;
      else run.parts.push(part);
      run.chars += size(part);
    } else {
      this.endRun();
      this.run = this.startRun(kind, given, extra, part);
    }
    if (this.run!.chars >= this.maxRunChars) this.storeRun();
  }

  /** Stores what is held and resolves when everything recorded is stored; rejects with the first failure. */
  async finish(): Promise<void> {
    this.endRun();
    while (this.inFlight !== null) await this.inFlight;
    if (this.failure !== null) throw this.failure.error;
  }

  private startRun(kind: ChunkKind, given: string | null, extra: JsonObject | undefined, part: ContentPart): Run {
    const info: ChunkRunInfo = { update: kind, messageId: given ?? ulid() };
    if (extra !== undefined) info.extra = extra;
    return { info, given, parts: [part], chars: size(part) };
  }

  /** Stores the held chunks; the run goes on (its next chunks are stored as a message with the same `messageId`). */
  private storeRun(): void {
    const run = this.run;
    if (run === null || run.parts.length === 0) return;
    this.enqueue({
      role: run.info.update === 'user_message_chunk' ? 'user' : 'assistant',
      content: run.parts,
      metadata: { acp: { ...run.info } as unknown as JsonObject },
    });
    run.parts = [];
    run.chars = 0;
  }

  private endRun(): void {
    this.storeRun();
    this.run = null;
  }

  private enqueue(message: MessageInput): void {
    if (this.failure !== null) return;
    this.queue.push(message);
    this.inFlight ??= this.drain();
  }

  private async drain(): Promise<void> {
    // The check for more and the reset of inFlight happen in one synchronous step, so nothing enqueued is missed.
    while (this.queue.length > 0 && this.failure === null) {
      const batch = this.queue.splice(0);
      try {
        await this.write(batch);
      } catch (error) {
        this.failure = { error };
        this.queue.length = 0;
      }
    }
    this.inFlight = null;
  }
}

function size(part: ContentPart): number {
  return typeof part.text === 'string' && isPlainText(part) ? part.text.length : JSON.stringify(part).length;
}
