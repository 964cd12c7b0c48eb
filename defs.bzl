"""Compiler flags shared by every package (see README "Building")."""

# Product code: C11, every warning an error, under gcc and clang alike.
C_COPTS = [
    "-std=c11",
    "-D_GNU_SOURCE",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pthread",
]

C_LINKOPTS = ["-pthread"]

# Tests are C++ (GoogleTest) including our headers with extern "C".
TEST_COPTS = [
    "-std=c++17",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-pthread",
    "-iquote",
    ".",
]
