// unix-message-socket/pool: hand fds (connections, files, sockets) to worker
// processes over SEQPACKET socketpairs, many per sendmsg(2).
export { createPool, WorkerPool } from './primary';
export { PoolWorker } from './pool-worker';
export type { PoolEvents } from './primary';
export type { PoolOptions, RequestOptions, SendOptions, Strategy } from './options';
export type { ServeAddress, ServeOptions } from './acceptor';
export { connectToPrimary, isPoolWorker, PrimaryChannel } from './worker';
export type { PrimaryChannelEvents, Reply } from './worker';
