/*
 * Linked into the prebuilt binaries only (scripts/prebuild/build.js), never
 * into a source build: it lets a binary built here (glibc 2.36, GCC 12) load
 * on glibc 2.28, the oldest glibc that Node 20's own Linux binaries run on.
 *
 * The prebuilds link libstdc++ and libgcc statically, so that they do not need
 * the GLIBCXX_3.4.29 of a GCC 11+ libstdc++.so. But the static archives were
 * compiled against this machine's glibc and refer to symbols that only newer
 * glibc versions have. Each one is defined here, hidden, so the linker binds
 * those references to these definitions and the binary asks glibc for none of
 * them (build.js checks the result with objdump -T and fails if a symbol newer
 * than its baseline is left):
 *
 *   __libc_single_threaded  GLIBC_2.32  libstdc++'s "skip the atomic op when
 *                                       single-threaded" test
 *   pthread_once,           GLIBC_2.34  gthr (libstdc++, libgcc): glibc 2.34
 *   __pthread_key_create                moved them into libc under a new version
 *   pthread_create,         GLIBC_2.34  the addon's own thread that binds a socket
 *   pthread_join                        file under a umask of its own (fd_calls.cc)
 *   _dl_find_object         GLIBC_2.35  libgcc's unwinder finds an FDE with it
 *   arc4random              GLIBC_2.36  std::random_device (never used here)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define HIDDEN __attribute__((visibility("hidden")))

/* Node always runs several threads, so "not single-threaded" is the truth:
 * libstdc++ then always uses the atomic operations, as it must. */
HIDDEN char __libc_single_threaded = 0;

/* The same functions under the version they had before glibc 2.34, which
 * every glibc has (in libpthread before 2.34, kept in libc after). */
#if defined(__x86_64__)
#define OLD_GLIBC "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define OLD_GLIBC "GLIBC_2.17"
#else
#error "glibc-compat.c: add the oldest glibc symbol version of this architecture"
#endif

extern int ums_old_pthread_once(pthread_once_t *once, void (*init)(void));
extern int ums_old_pthread_key_create(pthread_key_t *key, void (*destructor)(void *));
__asm__(".symver ums_old_pthread_once, pthread_once@" OLD_GLIBC);
__asm__(".symver ums_old_pthread_key_create, __pthread_key_create@" OLD_GLIBC);
extern int ums_old_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg);
extern int ums_old_pthread_join(pthread_t thread, void **result);
__asm__(".symver ums_old_pthread_create, pthread_create@" OLD_GLIBC);
__asm__(".symver ums_old_pthread_join, pthread_join@" OLD_GLIBC);

HIDDEN int pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *), void *arg) {
  return ums_old_pthread_create(thread, attr, start, arg);
}

HIDDEN int pthread_join(pthread_t thread, void **result) {
  return ums_old_pthread_join(thread, result);
}

HIDDEN int pthread_once(pthread_once_t *once, void (*init)(void)) {
  return ums_old_pthread_once(once, init);
}

HIDDEN int __pthread_key_create(pthread_key_t *key, void (*destructor)(void *)) {
  return ums_old_pthread_key_create(key, destructor);
}

/* What libgcc did before glibc 2.35: find the loaded object that contains the
 * address, and its PT_GNU_EH_FRAME segment, with dl_iterate_phdr. */
struct find_state {
  uintptr_t address;
  struct dl_find_object *result;
};

static int find_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  struct find_state *state = data;
  uintptr_t start = UINTPTR_MAX, end = 0;
  int contains = 0;
  void *eh_frame = NULL;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    uintptr_t from = info->dlpi_addr + ph->p_vaddr;
    if (ph->p_type == PT_LOAD) {
      if (from < start) start = from;
      if (from + ph->p_memsz > end) end = from + ph->p_memsz;
      if (state->address >= from && state->address < from + ph->p_memsz) contains = 1;
    } else if (ph->p_type == PT_GNU_EH_FRAME) {
      eh_frame = (void *)from;
    }
  }
  if (!contains) return 0;
  state->result->dlfo_flags = 0;
  state->result->dlfo_map_start = (void *)start;
  state->result->dlfo_map_end = (void *)end;
  state->result->dlfo_link_map = NULL;
  state->result->dlfo_eh_frame = eh_frame;
#if DLFO_STRUCT_HAS_EH_DBASE
  state->result->dlfo_eh_dbase = NULL;
#endif
  return 1;
}

HIDDEN int _dl_find_object(void *address, struct dl_find_object *result) {
  struct find_state state = { (uintptr_t)address, result };
  return dl_iterate_phdr(find_object, &state) ? 0 : -1;
}

/* getentropy (GLIBC_2.25) never fails for 4 bytes on Linux 3.17+. */
HIDDEN uint32_t arc4random(void) {
  uint32_t value;
  if (getentropy(&value, sizeof value) != 0) abort();
  return value;
}
