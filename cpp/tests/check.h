// A minimal test harness for the C++ tests (no external framework, so the aarch64 cross build needs nothing more).
// TEST(name) { ... } registers a test; CHECK(cond) and CHECK_NEAR(a, b, tol) record failures and go on;
// REQUIRE(cond) stops the test. main.cpp runs every test once under the ISA path given by --isa.
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace check {

struct TestCase {
    const char* name;
    std::function<void()> fn;
};
std::vector<TestCase>& registry();
extern int g_failures;  // failures in the current test
struct Abort {};

struct Registrar {
    Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace check

#define CHECK_CAT2(a, b) a##b
#define CHECK_CAT(a, b) CHECK_CAT2(a, b)
#define TEST(name)                                                             \
    static void name();                                                        \
    static check::Registrar CHECK_CAT(reg_, name)(#name, name);                \
    static void name()

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            ++check::g_failures;                                                              \
            std::fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);   \
        }                                                                                     \
    } while (0)

#define REQUIRE(cond)                                                                         \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            ++check::g_failures;                                                              \
            std::fprintf(stderr, "  %s:%d: REQUIRE(%s) failed\n", __FILE__, __LINE__, #cond); \
            throw check::Abort{};                                                             \
        }                                                                                     \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                              \
    do {                                                                                                   \
        double va_ = (a), vb_ = (b), vt_ = (tol);                                                          \
        if (!(std::fabs(va_ - vb_) <= vt_)) {                                                              \
            ++check::g_failures;                                                                           \
            std::fprintf(stderr, "  %s:%d: CHECK_NEAR(%s, %s) failed: %.9g vs %.9g (tol %.3g)\n", __FILE__, \
                         __LINE__, #a, #b, va_, vb_, vt_);                                                 \
        }                                                                                                  \
    } while (0)

#define CHECK_THROWS(expr)                                                                             \
    do {                                                                                               \
        bool thrown_ = false;                                                                          \
        try {                                                                                          \
            (void)(expr);                                                                              \
        } catch (...) {                                                                                \
            thrown_ = true;                                                                            \
        }                                                                                              \
        if (!thrown_) {                                                                                \
            ++check::g_failures;                                                                       \
            std::fprintf(stderr, "  %s:%d: CHECK_THROWS(%s): nothing thrown\n", __FILE__, __LINE__, #expr); \
        }                                                                                              \
    } while (0)
