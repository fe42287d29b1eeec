// The package's one debug logger: NODE_DEBUG=ums traces where fds go (queued
// and duplicated for a write, partial and refused sends and their retries,
// fds received, delivered or closed undelivered, waits for fd room; in a
// pool, which worker an fd went to and why one was closed, and workers
// coming and going). util.debuglog returns a no-op when the section is off;
// callers that build arguments check `debug.enabled` first, so tracing costs
// nothing then.
import { debuglog } from 'node:util';

export const debug = debuglog('ums');
