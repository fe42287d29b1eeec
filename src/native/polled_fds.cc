// The process-wide set of fds SocketHandles poll (polled_fds.h), behind a
// mutex: every env's thread reads and edits it.
#include "polled_fds.h"

#include <mutex>
#include <unordered_set>

namespace ums {
namespace polled_fds {
namespace {

std::mutex mutex;
std::unordered_set<int> fds;

}  // namespace

void Add(int fd) {
  std::lock_guard<std::mutex> lock(mutex);
  fds.insert(fd);
}

void Remove(int fd) {
  std::lock_guard<std::mutex> lock(mutex);
  fds.erase(fd);
}

bool Contains(int fd) {
  std::lock_guard<std::mutex> lock(mutex);
  return fds.count(fd) > 0;
}

}  // namespace polled_fds
}  // namespace ums
