{
  "targets": [
    {
      "target_name": "unix_message_socket",
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["OS=='linux'", {
          "sources": [
            "src/native/addon.cc",
            "src/native/bound_file.cc",
            "src/native/cmsg.cc",
            "src/native/constants.cc",
            "src/native/env_state.cc",
            "src/native/fd_calls.cc",
            "src/native/fd_ledger.cc",
            "src/native/fd_room.cc",
            "src/native/inet.cc",
            "src/native/inet_addr.cc",
            "src/native/inet_calls.cc",
            "src/native/js_values.cc",
            "src/native/lowlevel.cc",
            "src/native/pidfd.cc",
            "src/native/polled_fds.cc",
            "src/native/send.cc",
            "src/native/setup.cc",
            "src/native/socket_accept.cc",
            "src/native/socket_handle.cc",
            "src/native/socket_read.cc",
            "src/native/sockaddr.cc",
            "src/native/sockopt.cc",
            "src/native/watcher.cc"
          ],
          "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
          "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
          "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fno-rtti", "-Werror=return-type"],
          "ldflags": ["-pthread"]
        }]
      ]
    }
  ]
}
