/** `shardFor` lives in `protocol/` so that shard workers (recovery) may use it too; kept here for main-side imports. */
export { shardFor } from '../protocol/shard-for.js';
