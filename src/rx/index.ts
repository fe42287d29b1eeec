// unix-message-socket/rx: sockets, servers and fds as RxJS observables.
// RxJS 7 is a peer dependency of this entry point only.
export { connect$ } from './connect';
export { connections, listen$, type ConnectionsOptions, type Listen$Options } from './connections';
export { fromSocket, processMessages, type FromSocketOptions, type ProcessMessagesOptions } from './from-socket';
export { fds, withFds, type FdCount } from './operators';
export { sendTo, type Sendable, type SendSource, type SendToOptions } from './send-to';
export type { RxCodedError } from './errors';
export { fromPrimary, type PrimaryEvent, type PrimaryRequest } from './pool';
