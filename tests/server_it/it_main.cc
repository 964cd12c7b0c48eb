// main() of every server integration test: the server binary's path comes
// as argv[1] (BUILD: args = ["$(location //server:pool_server)"]).
#include <csignal>
#include <cstdio>

#include "gtest/gtest.h"
#include "tests/server_it/it_env.h"

int main(int argc, char** argv) {
  testing::InitGoogleTest(&argc, argv);
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s PATH_TO_POOL_SERVER [gtest flags]\n", argv[0]);
    return 2;
  }
  it::SetServerBinary(argv[1]);
  std::signal(SIGPIPE, SIG_IGN);  // a peer that closed must not kill the test
  return RUN_ALL_TESTS();
}
