{
  "targets": [
    {
      "target_name": "unix_message_socket",
      "conditions": [
        ["OS!='linux'", { "type": "none" }],
        ["OS=='linux'", {
          "sources": [
            "src/native/addon.cc",
            "src/native/cmsg.cc",
        "src/native/inet.cc",
            "src/native/js_values.cc",
            "src/native/socket_handle.cc",
            "src/native/sockaddr.cc"
          ],
          "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api"],
          "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
          "cflags": ["-Wall", "-Wextra", "-fvisibility=hidden", "-fstack-protector-strong"],
          "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Werror=return-type"]
        }]
      ]
    }
  ]
}
