// The one implementation of the socket layer's sends (send.cc), shared by
// the module's send()/sendBatch(), which take the fd as an argument, and
// SocketHandle's send()/sendBatch() methods, which send on the fd the
// handle owns.
#ifndef UMS_SEND_H_
#define UMS_SEND_H_

#include <node_api.h>

namespace ums {

// `*fd` is read when the syscall is made, after every value of the call:
// reading a value that did not come from our TypeScript layer may run a
// getter, and a getter may close the handle (its fd is -1 then: -EBADF).

// argv: data, fds, address, flags -> bytes | -errno. data is one byte view
// or an array of them (gathered into one sendmsg(2)).
napi_value SendMessage(napi_env env, const napi_value* argv, const int* fd);

// argv: datas[], fds[] | undefined, addresses[] | undefined, start, end ->
// count | -errno. One sendmmsg(2) for messages [start, end), at most 64 of
// them (the JS side loops).
napi_value SendMessages(napi_env env, const napi_value* argv, const int* fd);

}  // namespace ums

#endif  // UMS_SEND_H_
