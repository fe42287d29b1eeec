// unix-message-socket/systemd: socket activation and the sd_notify protocol
// (sd-daemon(3)) in JavaScript, over this library's own sockets; no
// libsystemd. Each function's file says which fds it owns.
export { listenFds, LISTEN_FDS_START, type ListenFd, type ListenFdsOptions } from './listen-fds';
export { notify, type NotifyOptions } from './notify';
export type { NotifyState, StateFields, StateValue } from './state';
export { watchdog, type StopWatchdog, type WatchdogOptions } from './watchdog';
export { barrier, type BarrierOptions } from './barrier';
