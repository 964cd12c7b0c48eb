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

# Product code goes through these, so every package builds with the same
# flags; `copts`/`linkopts` given add to C_COPTS/C_LINKOPTS.
def c_library(name, copts = [], linkopts = [], **kwargs):
    native.cc_library(name = name, copts = C_COPTS + copts, linkopts = C_LINKOPTS + linkopts, **kwargs)

def c_binary(name, copts = [], linkopts = [], **kwargs):
    native.cc_binary(name = name, copts = C_COPTS + copts, linkopts = C_LINKOPTS + linkopts, **kwargs)

def c_test(name, copts = [], linkopts = [], **kwargs):
    native.cc_test(name = name, copts = C_COPTS + copts, linkopts = C_LINKOPTS + linkopts, **kwargs)

# A GoogleTest test: C++ with TEST_COPTS, linked with gtest_main (or with
# gtest alone when main = False, for tests that bring their own main) and
# the shared test environment helpers (//tests/testlib).
def cc_gtest(name, deps = [], main = True, copts = [], **kwargs):
    native.cc_test(
        name = name,
        copts = TEST_COPTS + copts,
        deps = deps + [
            "//tests/testlib:testenv",
            "@com_google_googletest//:gtest_main" if main else "@com_google_googletest//:gtest",
        ],
        **kwargs
    )
