"""fuzz_target(): a libFuzzer target and the replay test of its corpus."""

load("//:defs.bzl", "C_COPTS", "C_LINKOPTS", "TEST_COPTS")

def fuzz_target(name, srcs, deps = [], **kwargs):
    """A fuzz target `<x>_fuzz` whose srcs define LLVMFuzzerTestOneInput.

    Files, by convention (ci/fuzz.sh follows the same one):
      corpus/<x>/         the checked-in corpus (seeds and regression inputs)
      <x>.dict            a libFuzzer dictionary, if there is one
      known_defects/<x>/  inputs that fail until a fix lands, if any

    Declares:
      <x>_fuzz            the libFuzzer binary. Only with --config=fuzz (it
                          links -fsanitize=fuzzer), so it is tagged manual:
                          `bazel test //tests/...` never builds it. Tagged
                          fuzz_target: ci/fuzz.sh runs every such target.
      <x>_fuzz_replay     a test that feeds every file of corpus/<x>/ through
                          the target (replay_main.c), in every configuration.
      <x>_fuzz_known_defects  the same over known_defects/<x>/; manual, and
                          failing until the fixes land.

    srcs in C get the product's C11 flags, in C++ the tests' flags.
    """
    if not name.endswith("_fuzz"):
        fail("fuzz_target: the name must be <x>_fuzz, got " + name)
    x = name[:-len("_fuzz")]
    pkg = native.package_name()
    in_c = all([s.endswith(".c") or s.endswith(".h") for s in srcs])

    native.cc_library(
        name = name + "_lib",
        testonly = True,
        srcs = srcs,
        copts = C_COPTS if in_c else TEST_COPTS,
        linkopts = C_LINKOPTS,
        deps = deps,
        alwayslink = True,
        **kwargs
    )

    native.cc_binary(
        name = name,
        testonly = True,
        deps = [":" + name + "_lib"],
        linkopts = select(
            {"//tests/fuzz:fuzzing": ["-fsanitize=fuzzer"]},
            no_match_error = "//%s:%s links libFuzzer: build it with --config=fuzz" % (pkg, name),
        ),
        tags = ["manual", "fuzz_target"],
    )

    _replay_test(name + "_replay", name, pkg, "corpus/" + x, [])

    if native.glob(["known_defects/%s/*" % x]):
        _replay_test(name + "_known_defects", name, pkg, "known_defects/" + x, ["manual"])

def _replay_test(name, target, pkg, folder, tags):
    native.cc_test(
        name = name,
        size = "small",
        deps = [":" + target + "_lib", "//tests/fuzz:replay_main"],
        data = native.glob([folder + "/*"]),
        args = [pkg + "/" + folder],
        tags = tags,
    )
