// The native module's functions, one group per file. Each is a Node-API
// callback that returns a result or -errno and never throws (js_values.h).
#ifndef UMS_FUNCTIONS_H_
#define UMS_FUNCTIONS_H_

#include <node_api.h>

namespace ums {

// setup.cc: what each env shares with binding.ts.
napi_value Setup(napi_env env, napi_callback_info info);

// constants.cc: the `constants` object (false if it could not be made).
bool Constants(napi_env env, napi_value* out);

// fd_calls.cc: fd-level syscalls.
napi_value Socket(napi_env env, napi_callback_info info);
napi_value SocketPair(napi_env env, napi_callback_info info);
napi_value Dup(napi_env env, napi_callback_info info);
napi_value DupAll(napi_env env, napi_callback_info info);
napi_value SetCloexec(napi_env env, napi_callback_info info);
napi_value FdLimit(napi_env env, napi_callback_info info);
napi_value Close(napi_env env, napi_callback_info info);
napi_value CloseAll(napi_env env, napi_callback_info info);
napi_value Disown(napi_env env, napi_callback_info info);
napi_value IsPolled(napi_env env, napi_callback_info info);
napi_value Bind(napi_env env, napi_callback_info info);
napi_value Connect(napi_env env, napi_callback_info info);
napi_value Listen(napi_env env, napi_callback_info info);
napi_value Shutdown(napi_env env, napi_callback_info info);
napi_value GetSockOpt(napi_env env, napi_callback_info info);
napi_value SetSockOpt(napi_env env, napi_callback_info info);
napi_value GetSockName(napi_env env, napi_callback_info info);
napi_value GetPeerName(napi_env env, napi_callback_info info);
napi_value PeerCred(napi_env env, napi_callback_info info);

// pidfd.cc: SO_PEERPIDFD.
napi_value PeerPidfd(napi_env env, napi_callback_info info);

// bound_file.cc: the inode a socket is bound to, and the one a path names.
napi_value BoundFile(napi_env env, napi_callback_info info);
napi_value FileAtPath(napi_env env, napi_callback_info info);

// send.cc: the socket layer's send paths (also SocketHandle's methods, send.h).
napi_value Send(napi_env env, napi_callback_info info);
napi_value SendBatch(napi_env env, napi_callback_info info);

// lowlevel.cc: the general sendmsg/recvmsg of the low-level API.
napi_value SendMsg(napi_env env, napi_callback_info info);
napi_value RecvMsg(napi_env env, napi_callback_info info);
napi_value RecvMsgInto(napi_env env, napi_callback_info info);

// sockopt.cc: socket options of any shape, as bytes.
napi_value GetSockOptBytes(napi_env env, napi_callback_info info);
napi_value SetSockOptBytes(napi_env env, napi_callback_info info);

// inet.cc: TCP listening sockets for the worker pool's hand-off.
napi_value ListenInet(napi_env env, napi_callback_info info);
napi_value InetPort(napi_env env, napi_callback_info info);

// inet_calls.cc: the low-level BSD socket calls for any family.
napi_value SocketOf(napi_env env, napi_callback_info info);
napi_value BindTo(napi_env env, napi_callback_info info);
napi_value ConnectTo(napi_env env, napi_callback_info info);
napi_value AcceptFrom(napi_env env, napi_callback_info info);
napi_value NameOf(napi_env env, napi_callback_info info);

// watcher.cc: readiness of raw fds (the Watcher class).
napi_status DefineWatcher(napi_env env, napi_value* out);

}  // namespace ums

#endif  // UMS_FUNCTIONS_H_
