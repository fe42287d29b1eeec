// The package's main entry point: the stream layer (sockets, servers, their
// types), errnoError, and the low-level sendmsg/recvmsg API.
export * from './stream/index';
export { errnoError, type CodedError, type ErrnoError } from './stream/errors';
export {
  sendmsg,
  recvmsg,
  recvmsgInto,
  rights,
  fdsOf,
  type ReceivedMessage,
  type RecvmsgOptions,
  type ReceivedInto,
  type RecvmsgIntoOptions,
} from './lowlevel';
export * as lowlevel from './lowlevel';
export type { AddressEncoding } from './stream/address-codec';
