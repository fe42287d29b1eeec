// unix-message-socket/rx: sockets, servers and fds as RxJS observables.
// RxJS 7 is a peer dependency of this entry point only.
export { fromSocket, processMessages, type FromSocketOptions, type ProcessMessagesOptions } from './from-socket';
export { fds, withFds, type FdCount } from './operators';
export type { RxCodedError } from './errors';
