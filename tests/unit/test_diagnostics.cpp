#include <catch2/catch.hpp>

#include "compiler/diagnostics.h"

using namespace ebpfrun::compiler;

TEST_CASE("diagnostics render like clang with the source line and a caret", "[diagnostics]") {
  Diagnostic d{Severity::error, "use of undeclared identifier 'x'", "probe.bpf.c", 7, 12, "    return x + 1;"};
  CHECK(render(d) ==
        "probe.bpf.c:7:12: error: use of undeclared identifier 'x'\n"
        "    return x + 1;\n"
        "           ^\n");
}

TEST_CASE("diagnostics without a location render the message only", "[diagnostics]") {
  Diagnostic d{Severity::fatal, "too many errors emitted", "", 0, 0, ""};
  CHECK(render(d) == "fatal error: too many errors emitted\n");
}

TEST_CASE("tabs in the source line keep the caret aligned", "[diagnostics]") {
  Diagnostic d{Severity::warning, "unused variable 'y'", "a.c", 2, 3, "\t\tint y;"};
  CHECK(render(d) == "a.c:2:3: warning: unused variable 'y'\n\t\tint y;\n\t\t^\n");
}

TEST_CASE("has_errors ignores warnings and notes", "[diagnostics]") {
  CHECK_FALSE(has_errors({{Severity::warning, "w"}, {Severity::note, "n"}}));
  CHECK(has_errors({{Severity::warning, "w"}, {Severity::error, "e"}}));
}
