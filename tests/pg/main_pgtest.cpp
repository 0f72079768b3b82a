// doctest main for the tests against a real PostgreSQL (label `pg`).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
