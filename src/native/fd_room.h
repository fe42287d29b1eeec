// How many more fds this process can open: RLIMIT_NOFILE minus the fds in
// use. One instance for the process, since the main thread and every worker
// share one fd table.
//
// A read that brings more fds than the process can install loses them: the
// kernel closes the rest and sets MSG_CTRUNC (unix(7), "SCM_RIGHTS"; no errno
// is returned). So a socket reads only while the room covers the most fds
// one more message may bring (SocketHandle::DoRead).
//
// An exact count is a stat(2) of /proc/self/fd (Linux 6.2+; a directory read
// before), too much for every read of a ping-pong. So the count is an
// estimate: the last exact count, plus the fds the addon has installed or
// created since, minus those it has closed. fds that other code opens are
// not seen until the next exact count, and fds that our users close are not
// seen either (the estimate errs towards less room). An exact count is taken
// when the last one is 50 ms old (1 ms while fds are flowing in), or when
// the estimate says the room is short (then at most every 2 ms).
//
// RLIMIT_NOFILE bounds fd numbers, not the count: fds numbered above a
// limit lowered after they were opened make the room smaller than this
// estimate says. The kernel then still installs what fits and flags the
// message fdsTruncated.
#ifndef UMS_FD_ROOM_H_
#define UMS_FD_ROOM_H_

namespace ums {
namespace fd_room {

struct Room {
  int free;   // fd slots free under the limit; 0 when none (or uncountable)
  int limit;  // the soft RLIMIT_NOFILE
};

// `need` is what the caller is about to ask for: an estimate short of it
// triggers an exact count. `busy`: fds are flowing in (the caller's last
// read brought some), so user code is likely opening and closing fds too:
// the count is then refreshed every millisecond.
Room Free(int need, bool busy = false);

// The addon installed or created n fds, or closed n of them.
void Opened(int n);
void Closed(int n);

// The kernel could not install every fd of a message that the room said
// fit (MSG_CTRUNC with fewer fds than asked): the estimate is wrong, so the
// next Free() counts again, whatever the age of the last count.
void Stale();

}  // namespace fd_room
}  // namespace ums

#endif  // UMS_FD_ROOM_H_
