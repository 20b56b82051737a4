// Runs every registered C++ test under one ISA path: `pysparse_tests --isa avx2 [--filter substring]`.
// A path the CPU cannot run is reported as skipped (exit 0) so ctest lists it; the Python side decides whether a
// skip is acceptable on the machine at hand.
#include <cstring>
#include <exception>

#include "common/cpu.h"
#include "tests/check.h"

namespace check {
std::vector<TestCase>& registry() {
    static std::vector<TestCase> r;
    return r;
}
int g_failures = 0;
}  // namespace check

int main(int argc, char** argv) {
    const char* isa = "generic";
    const char* filter = nullptr;
    for (int i = 1; i < argc; ++i) {
        if (!std::strcmp(argv[i], "--isa") && i + 1 < argc) isa = argv[++i];
        else if (!std::strcmp(argv[i], "--filter") && i + 1 < argc) filter = argv[++i];
    }
    pysparse::Isa path = pysparse::isa_from_name(isa);
    if (!pysparse::cpu_supports(path)) {
        std::printf("SKIPPED: ISA path %s is not supported by this CPU\n", isa);
        return 0;
    }
    pysparse::set_isa(path);
    int passed = 0, failed = 0;
    for (auto& t : check::registry()) {
        if (filter && !std::strstr(t.name, filter)) continue;
        check::g_failures = 0;
        try {
            t.fn();
        } catch (const check::Abort&) {
        } catch (const std::exception& e) {
            ++check::g_failures;
            std::fprintf(stderr, "  uncaught exception: %s\n", e.what());
        }
        if (check::g_failures) {
            ++failed;
            std::printf("[%s] FAIL %s\n", isa, t.name);
        } else {
            ++passed;
            std::printf("[%s] ok   %s\n", isa, t.name);
        }
    }
    std::printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
