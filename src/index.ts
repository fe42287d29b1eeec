export * from './stream/index';
export { errnoError, type CodedError, type ErrnoError } from './stream/errors';
export { sendmsg, recvmsg, rights, fdsOf, type ReceivedMessage, type RecvmsgOptions } from './lowlevel';
export * as lowlevel from './lowlevel';
export type { AddressEncoding } from './stream/address-codec';
